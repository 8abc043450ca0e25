// The store behind the kernel compiler, in one process: one compile per body and one shared
// artifact and module (issue section 2), redefinitions back to an earlier body served from the
// store, and the action cache (section 4): a recall registers the dependencies a build would,
// so redefinitions still invalidate, and a recall never serves code whose callees changed.
#include "../kernels/test_util.hpp"
#include "store_util.hpp"

#include "runtime/drivers/host/host_device.hpp"
#include "runtime/runtime.hpp"
#include "store/tiers/memory/memory_tier.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace kcache::test {
namespace {

using namespace types;
const TargetSpec kHost{TargetKind::host(), "", 2};
const Type kTT = Type::tuple({Ptr(Float32()), Int32()});

struct Twins {
    MethodTable& table = fresh_table("twins");
    Function &f1 = Function::define(unique("f")), &f2 = Function::define(unique("f"));
    Function &g1 = Function::define(unique("g")), &g2 = Function::define(unique("g"));
    Function &k1 = Function::define(unique("k")), &k2 = Function::define(unique("k"));
    Twins() {
        add_adder(table, f1, 1.0f);
        add_adder(table, f2, 1.0f);
        add_ir_adder(table, g1, 2.0f);
        add_ir_adder(table, g2, 2.0f);
        add_sum_kernel(table, k1, f1, g1);
        add_sum_kernel(table, k2, f2, g2);
    }
};

TEST(Store, IdenticalBodiesCompileOncePerSpecAndShareOneArtifact) {
    Twins t;
    auto store = memory_store();
    kernels::KernelCompiler kc(t.table, unique("twins"), store.get());
    auto a1 = kc.compile(t.k1, kTT, kHost);
    auto a2 = kc.compile(t.k2, kTT, kHost);
    EXPECT_EQ(a1, a2) << "one Artifact object";
    EXPECT_EQ(a1->kernel_symbol, "kcache_kernel");
    EXPECT_EQ(store->stats().published, 1u);
    EXPECT_EQ(store->stats().content_hits, 1u);
    EXPECT_EQ(kc.stats().store_hits, 1u);

    const TargetSpec sm90{TargetKind::nvptx(), "sm_90", 2};
    auto n1 = kc.compile(t.k1, kTT, sm90);
    auto n2 = kc.compile(t.k2, kTT, sm90);
    EXPECT_NE(n1, a1) << "another spec, another artifact";
    EXPECT_EQ(n1, n2);
    EXPECT_EQ(store->stats().published, 2u);
    EXPECT_NE(n1->ptx.find(".entry kcache_kernel"), std::string::npos);

    EXPECT_EQ(run_on_host(kc, t.k1, 4), sums(1, 2));
    EXPECT_EQ(run_on_host(kc, t.k2, 4), sums(1, 2));
}

TEST(Store, SharedCodeIsOneModuleUnloadedWithItsLastUserAndRedefinitionsBackComeFromTheStore) {
    Twins t;
    auto store = memory_store();
    kernels::KernelCompiler kc(t.table, unique("shared"), store.get());
    auto host = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    runtime::Runtime rt(kc, {host});
    auto run = [&](const Function& k) {
        runtime::DeviceBuffer<float> out(*host, 4);
        rt.launch(*host, k, {1, 32}, out, std::int32_t(4));
        return out.to_vector();
    };
    EXPECT_EQ(run(t.k1), sums(1, 2));
    EXPECT_EQ(run(t.k2), sums(1, 2));
    EXPECT_EQ(rt.stats().loads, 1u) << "two kernels, one module";
    EXPECT_EQ(rt.loaded_modules(*host), 1u);

    // Invalidating one user keeps the module for the other.
    add_adder(t.table, t.f1, 5.0f);
    EXPECT_EQ(rt.stats().evictions, 0u);
    EXPECT_EQ(rt.loaded_modules(*host), 1u);
    EXPECT_EQ(run(t.k2), sums(1, 2));
    EXPECT_EQ(run(t.k1), sums(5, 2));
    EXPECT_EQ(rt.stats().loads, 2u);

    // Invalidating the other unloads it.
    add_adder(t.table, t.f2, 7.0f);
    EXPECT_EQ(rt.stats().evictions, 1u);
    EXPECT_EQ(rt.loaded_modules(*host), 1u);
    EXPECT_EQ(run(t.k2), sums(7, 2));

    // A -> B -> A: invalidated as always, but the code comes from the store, not from codegen.
    const auto published = store->stats().published;
    const auto optimize = kc.stats().optimize;
    add_adder(t.table, t.f1, 1.0f);
    EXPECT_EQ(rt.stats().evictions, 2u);
    EXPECT_EQ(run(t.k1), sums(1, 2));
    EXPECT_EQ(store->stats().published, published);
    EXPECT_EQ(kc.stats().optimize, optimize);

    // A callee redefinition that leaves the caller's code as it is: recompiled from the store.
    add_ir_adder(t.table, t.g1, 2.0f);
    EXPECT_EQ(kc.lookup(t.k1, kTT, kHost), nullptr) << "invalidated as always";
    EXPECT_EQ(run(t.k1), sums(1, 2));
    EXPECT_EQ(store->stats().published, published);
    EXPECT_EQ(kc.stats().optimize, optimize);
}

TEST(ActionCache, ARecallBuildsNothingAndStillInvalidatesOnEveryKindOfChange) {
    auto store = memory_store();
    // Each change below is made after a recall, in a compiler whose code was never built.
    const std::vector<std::pair<const char*, std::function<void(Chain&)>>> changes = {
        {"callee redefined", [](Chain& c) { add_adder(MethodTable::global(), c.f, 10.0f); }},
        {"IR callee redefined", [](Chain& c) { add_ir_adder(MethodTable::global(), c.g, 20.0f); }},
        {"overlay method", [](Chain& c) { add_float_adder(c.table, c.f, 100.0f); }},
        {"more specific method",
         [](Chain& c) { add_float_adder(MethodTable::global(), c.f, 1000.0f); }},
    };
    const std::vector<std::vector<float>> after = {sums(10, 2), sums(1, 20), sums(100, 2),
                                                   sums(1000, 2)};
    for (std::size_t i = 0; i < changes.size(); ++i) {
        SCOPED_TRACE(changes[i].first);
        Chain c; // fresh functions: their first compile records an action entry
        {
            Compiler build(c.table, *store);
            EXPECT_EQ(run_on_host(build.compiler, c.k, 4), sums(1, 2));
        }
        Compiler warm(c.table, *store);
        const auto recalls = store->stats().recalls;
        EXPECT_EQ(run_on_host(warm.compiler, c.k, 4), sums(1, 2));
        EXPECT_EQ(store->stats().recalls, recalls + 1);
        EXPECT_EQ(warm.compiler.stats().build.count(), 0) << "no IR built";
        EXPECT_EQ(warm.compiler.stats().recalls, 1u);

        changes[i].second(c);
        EXPECT_EQ(warm.compiler.lookup(c.k, kTT, kHost), nullptr)
            << "the recall registered the dependency: the change invalidated it";
        const auto stale = store->stats().recall_stale;
        EXPECT_EQ(run_on_host(warm.compiler, c.k, 4), after[i]) << "the new code runs";
        EXPECT_EQ(store->stats().recall_stale, stale + 1)
            << "the recorded dispatch no longer holds";
        EXPECT_GT(warm.compiler.stats().build.count(), 0);
    }
}

TEST(ActionCache, MethodsWithoutADigestGetNoActionEntry) {
    MethodTable& table = fresh_table("nodigest");
    Function& h = Function::define(unique("h"));
    Function& g = Function::define(unique("g"));
    Function& k = Function::define(unique("k"));
    kernels::add_generator(table, h, Signature({Float32()}), add_const(1.0f), Float32());
    add_ir_adder(table, g, 2.0f);
    add_sum_kernel(table, k, h, g); // versioned, but reaches the unversioned h
    auto store = memory_store();
    {
        kernels::KernelCompiler first(table, unique("nodigest"), store.get());
        first.compile(k, kTT, kHost);
    }
    kernels::KernelCompiler second(table, unique("nodigest"), store.get());
    second.compile(k, kTT, kHost);
    EXPECT_EQ(store->stats().recalls, 0u);
    EXPECT_EQ(store->stats().recall_misses, 2u);
    EXPECT_EQ(store->stats().content_hits, 1u) << "the content store still serves it";
    EXPECT_GT(second.stats().build.count(), 0);
}

// A tier whose action lookups fail with an error (a bug, a broken backend): every recall fails.
class FailingActionTier final : public store::Tier {
public:
    std::string_view name() const override { return "failing"; }
    store::ArtifactPtr get(const store::ContentKey& key) override { return inner_.get(key); }
    store::ArtifactPtr put(const store::ContentKey& key, store::ArtifactPtr a) override {
        return inner_.put(key, std::move(a));
    }
    store::ActionHit get(const store::ActionKey&) override {
        throw std::runtime_error("the action index is broken");
    }
    void put(const std::shared_ptr<const store::ActionEntry>& entry,
             const store::ArtifactPtr& content) override {
        inner_.put(entry, content);
    }
    store::TierStats stats() const override { return inner_.stats(); }

private:
    store::MemoryTier inner_{std::uint64_t(64) << 20};
};

TEST(ActionCache, AFailingRecallIsCountedNotSilentAndTheKernelIsBuilt) {
    std::vector<std::unique_ptr<store::Tier>> tiers;
    tiers.push_back(std::make_unique<FailingActionTier>());
    store::Store store(std::move(tiers));
    for (int i = 0; i < 2; ++i) {
        Chain c; // fresh functions, each with a source digest: each compile tries a recall
        Compiler compiler(c.table, store);
        EXPECT_EQ(run_on_host(compiler.compiler, c.k, 4), sums(1, 2));
        EXPECT_GT(compiler.compiler.stats().build.count(), 0) << "built instead";
    }
    const store::StoreStats s = store.stats();
    EXPECT_EQ(s.recall_errors, 2u) << "each failed recall counted, one warning per cause";
    EXPECT_EQ(s.recall_stale, 0u) << "an error is not a stale entry";
    EXPECT_EQ(s.recalls, 0u);
}

TEST(ActionCache, AnActionWhoseContentIsGoneIsAMiss) {
    TempDir dir("gone");
    Chain c;
    {
        auto store = make_store(dir.path());
        Compiler first(c.table, *store);
        first.compiler.compile(c.k, kTT, kHost);
    }
    fs::remove_all(dir.path() / "v1" / "cas");
    fs::create_directory(dir.path() / "v1" / "cas");
    fs::permissions(dir.path() / "v1" / "cas", fs::perms::owner_all);
    auto store = make_store(dir.path());
    Compiler second(c.table, *store);
    EXPECT_EQ(run_on_host(second.compiler, c.k, 4), sums(1, 2));
    EXPECT_EQ(store->stats().recalls, 0u);
    EXPECT_EQ(store->stats().recall_stale, 1u);
    EXPECT_EQ(store->stats().published, 1u);
}

TEST(Store, ConcurrentCompilersOfOneBodyPublishItOnceAndShareIt) {
    TempDir dir("concurrent");
    Twins t;
    auto store = make_store(dir.path());
    constexpr int kThreads = 4;
    std::vector<kernels::ArtifactPtr> results(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] {
            kernels::KernelCompiler kc(t.table, unique("concurrent"), store.get());
            results[i] = kc.compile(i % 2 ? t.k1 : t.k2, kTT, {TargetKind::nvptx(), "sm_80", 3});
        });
    for (auto& th : threads)
        th.join();
    for (const auto& r : results)
        EXPECT_EQ(r, results[0]);
    EXPECT_EQ(store->stats().published, 1u);
    EXPECT_EQ(disk_of(*store).stats().corrupt, 0u);
}

} // namespace
} // namespace kcache::test
