// KernelCompiler: caching per (method instance, spec), sharding, invalidation through the
// dependencies the module builder registers (global and overlay callees, transitively),
// recursion, bitcode sources, the artifact-store seam, concurrent misses.
#include "host_runner.hpp"
#include "test_util.hpp"

#include "core/type_of.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "targets/llvm/ir.hpp"

#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

namespace kcache::test {
namespace {

using namespace kcache::kernels;
using types::Float32;
using types::Int32;
using types::Ptr;

const TargetSpec kHost{TargetKind::host(), "", 0};

Type kernel_tt() {
    return Type::tuple({Ptr(Float32())});
}

TEST(KernelCompiler, ShardsArePerTargetArchAndOptLevel) {
    register_all();
    KernelCompiler kc(MethodTable::global(), unique("shards"));
    const Function& vadd = Function::named("vadd");
    Type tt = tt_of<float*, float*, float*, std::int32_t>();
    auto sm80 = kc.compile(vadd, tt, {TargetKind::nvptx(), "sm_80", 2});
    EXPECT_EQ(kc.lookup(vadd, tt, {TargetKind::nvptx(), "sm_90", 2}), nullptr);
    EXPECT_EQ(kc.lookup(vadd, tt, {TargetKind::nvptx(), "sm_80", 3}), nullptr);
    EXPECT_EQ(kc.lookup(vadd, tt, {TargetKind::amdgpu(), "gfx90a", 2}), nullptr);
    auto sm90 = kc.compile(vadd, tt, {TargetKind::nvptx(), "sm_90", 2});
    EXPECT_NE(sm80, sm90);
    EXPECT_NE(sm80->ptx.find(".target sm_80"), std::string::npos);
    EXPECT_NE(sm90->ptx.find(".target sm_90"), std::string::npos);
    EXPECT_EQ(kc.stats().compilations, 2u);

    // A hit returns the same artifact, and the default arch is the same shard as its name.
    auto before = kc.cache().stats();
    EXPECT_EQ(kc.compile(vadd, tt, {TargetKind::nvptx(), "sm_80", 2}), sm80);
    EXPECT_EQ(kc.compile(vadd, tt, {TargetKind::nvptx(), "", 2}), sm80);
    EXPECT_EQ(kc.cache().stats().hits, before.hits + 2);
    EXPECT_EQ(kc.stats().compilations, 2u);

    // Opt levels are shards too, and give different code.
    const Function& reduce = Function::named("reduce_sum");
    Type rt = tt_of<float*, float*, std::int32_t>();
    auto o0 = kc.compile(reduce, rt, {TargetKind::host(), "", 0});
    EXPECT_EQ(kc.lookup(reduce, rt, {TargetKind::host(), "", 3}), nullptr);
    auto o3 = kc.compile(reduce, rt, {TargetKind::host(), "", 3});
    EXPECT_EQ(o0->opt_level, 0);
    EXPECT_EQ(o3->opt_level, 3);
    EXPECT_NE(o0->bytes, o3->bytes);
    EXPECT_EQ(kc.lookup(reduce, rt, {TargetKind::host(), "", 0}), o0);
}

TEST(KernelCompiler, RedefiningAGlobalCalleeRecompilesOnlyItsUsers) {
    MethodTable& table = fresh_table("redefine");
    Function& helper = Function::define(unique("helper"));
    Function& user = Function::define(unique("user"));
    Function& other = Function::define(unique("other"));
    add_generator(table, helper, Signature({Float32()}), add_const(1.0f), Float32());
    add_generator(table, user, Signature({Ptr(Float32())}), store_call(&helper));
    add_generator(table, other, Signature({Ptr(Float32())}), store_call(nullptr));

    KernelCompiler kc(table, "redefine");
    auto u1 = kc.compile(user, kernel_tt(), kHost);
    auto o1 = kc.compile(other, kernel_tt(), kHost);
    EXPECT_EQ(run_store_kernel(*u1), 2.0f);
    EXPECT_EQ(run_store_kernel(*o1), 1.0f);
    EXPECT_EQ(kc.cache().stats().compilations, 2u);

    add_generator(table, helper, Signature({Float32()}), add_const(10.0f), Float32());
    EXPECT_EQ(kc.lookup(user, kernel_tt(), kHost), nullptr); // depends on helper
    EXPECT_EQ(kc.lookup(other, kernel_tt(), kHost), o1);     // does not
    auto u2 = kc.compile(user, kernel_tt(), kHost);
    EXPECT_EQ(kc.compile(other, kernel_tt(), kHost), o1);
    EXPECT_EQ(kc.cache().stats().compilations, 3u); // only `user` again
    EXPECT_GE(kc.cache().stats().invalidations, 1u);
    EXPECT_EQ(run_store_kernel(*u2), 11.0f);
}

TEST(KernelCompiler, RedefiningACalleeOfAnIRCalleeInvalidatesTransitively) {
    MethodTable& table = fresh_table("transitive");
    Function& leaf = Function::define(unique("leaf"));
    Function& mid = Function::define(unique("mid"));
    Function& kernel = Function::define(unique("kernel"));
    add_generator(table, leaf, Signature({Float32()}), add_const(2.0f), Float32());
    // mid(x) = leaf(x) * 3, in IR, leaf by dispatch.
    add_ir_method(table, mid, Signature({Float32()}), LlvmIR::text(R"(
declare !kcache.types !{!"Float32"} float @)" + leaf.name() + R"((float)
define float @)" + mid.name() + R"((float %x) {
  %l = call float @)" + leaf.name() + R"((float %x)
  %r = fmul float %l, 3.0
  ret float %r
}
)"));
    add_generator(table, kernel, Signature({Ptr(Float32())}), store_call(&mid));

    KernelCompiler kc(table, "transitive");
    EXPECT_EQ(run_store_kernel(*kc.compile(kernel, kernel_tt(), kHost)), 9.0f);
    add_generator(table, leaf, Signature({Float32()}), add_const(4.0f), Float32());
    EXPECT_EQ(kc.lookup(kernel, kernel_tt(), kHost), nullptr);
    EXPECT_EQ(run_store_kernel(*kc.compile(kernel, kernel_tt(), kHost)), 15.0f);
}

TEST(KernelCompiler, OverlayMethodRecompilesOnlyTheOverlayCachesUsers) {
    MethodTable& base = fresh_table("base");
    MethodTable& overlay = MethodTable::create_overlay(unique("overlay"), base);
    Function& helper = Function::define(unique("helper"));
    Function& kernel = Function::define(unique("kernel"));
    add_generator(base, helper, Signature({Float32()}), add_const(1.0f), Float32());
    add_generator(base, kernel, Signature({Ptr(Float32())}), store_call(&helper));

    KernelCompiler on_base(base, "on_base");
    KernelCompiler on_overlay(overlay, "on_overlay");
    auto b1 = on_base.compile(kernel, kernel_tt(), kHost);
    auto v1 = on_overlay.compile(kernel, kernel_tt(), kHost);
    EXPECT_EQ(run_store_kernel(*b1), 2.0f);
    EXPECT_EQ(run_store_kernel(*v1), 2.0f);

    // A device-specific definition in the overlay wins over the base one for its cache only.
    add_generator(overlay, helper, Signature({Float32()}), add_const(100.0f), Float32());
    EXPECT_EQ(on_overlay.lookup(kernel, kernel_tt(), kHost), nullptr);
    EXPECT_EQ(on_base.lookup(kernel, kernel_tt(), kHost), b1);
    EXPECT_EQ(run_store_kernel(*on_overlay.compile(kernel, kernel_tt(), kHost)), 101.0f);
    EXPECT_EQ(on_base.compile(kernel, kernel_tt(), kHost), b1);

    // Redefining the overlay method again recompiles the overlay user again.
    add_generator(overlay, helper, Signature({Float32()}), add_const(200.0f), Float32());
    EXPECT_EQ(on_overlay.lookup(kernel, kernel_tt(), kHost), nullptr);
    EXPECT_EQ(run_store_kernel(*on_overlay.compile(kernel, kernel_tt(), kHost)), 201.0f);
    EXPECT_EQ(on_base.lookup(kernel, kernel_tt(), kHost), b1);
}

TEST(KernelCompiler, DeviceOverlayOfALibraryHelper) {
    // A device-specific exp(::Float32) in an overlay over the global table: exp2(x * log2(e)).
    register_all();
    MethodTable& device = MethodTable::create_overlay(unique("device"));
    KernelCompiler global_kc(MethodTable::global(), unique("global"));
    KernelCompiler device_kc(device, unique("device"));
    const Function& softmax = Function::named("softmax_rows");
    Type tt = tt_of<float*, float*, std::int32_t, std::int32_t>();
    auto before = global_kc.compile(softmax, tt, kHost);

    add_generator(
        device, Function::named("exp"), Signature({Float32()}),
        [](GenContext& g) {
            llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
            auto* x = b.CreateFMul(g.function().getArg(0),
                                   llvm::ConstantFP::get(b.getFloatTy(), 1.4426950408889634));
            b.CreateRet(emit::math(b, builtins::MathOp::Exp2, {x}));
        },
        Float32());
    EXPECT_EQ(global_kc.lookup(softmax, tt, kHost), before); // the global cache is untouched

    auto uses = [&](KernelCompiler& kc, const char* builtin) {
        llvm::LLVMContext ctx;
        auto m = kc.build_module(softmax, tt, kHost, ctx);
        return m->getFunction(builtin) != nullptr;
    };
    EXPECT_TRUE(uses(device_kc, "kcache.exp2.f32"));
    EXPECT_FALSE(uses(device_kc, "kcache.exp.f32"));
    EXPECT_TRUE(uses(global_kc, "kcache.exp.f32"));

    // Both compute the same softmax.
    const int rows = 2, cols = 40;
    std::vector<float> in(rows * cols), ref(rows * cols), out(rows * cols);
    for (int i = 0; i < rows * cols; ++i)
        in[i] = float(i % 9) - 4.0f;
    for (auto* kc : {&global_kc, &device_kc}) {
        auto a = kc->compile(softmax, tt, kHost);
        HostModule m(*a);
        auto fn = m.lookup<void (*)(const float*, float*, int, int, host::LaunchContext*)>(
            "softmax_rows");
        launch({rows}, {16}, a->static_shared_bytes,
               [&](host::LaunchContext* c) { fn(in.data(), out.data(), rows, cols, c); });
        if (kc == &global_kc)
            ref = out;
        else
            for (int i = 0; i < rows * cols; ++i)
                EXPECT_NEAR(out[i], ref[i], 1e-6f) << i;
    }
}

TEST(KernelCompiler, RecursionThroughDispatchIsEmittedOnce) {
    // odd(n) = n == 0 ? 0 : even(n - 1)  (generator);  even(n) = n == 0 ? 1 : odd(n - 1)  (IR)
    MethodTable& table = fresh_table("recursion");
    Function& odd = Function::define(unique("odd"));
    Function& even = Function::define(unique("even"));
    Function& kernel = Function::define(unique("kernel"));
    add_generator(
        table, odd, Signature({Int32()}),
        [&even](GenContext& g) {
            auto& ctx = g.context();
            auto* fn = &g.function();
            llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
            auto* zero = llvm::BasicBlock::Create(ctx, "zero", fn);
            auto* rec = llvm::BasicBlock::Create(ctx, "rec", fn);
            b.CreateCondBr(b.CreateICmpEQ(fn->getArg(0), b.getInt32(0)), zero, rec);
            b.SetInsertPoint(zero);
            b.CreateRet(b.getInt32(0));
            b.SetInsertPoint(rec);
            b.CreateRet(g.call(b, even, {{Int32(), b.CreateSub(fn->getArg(0), b.getInt32(1))}}));
        },
        Int32());
    add_ir_method(table, even, Signature({Int32()}),
                  LlvmIR::text(R"(
declare !kcache.types !{!"Int32"} i32 @)" +
                                   odd.name() + R"($x(i32)
define i32 @body(i32 %n) {
  %z = icmp eq i32 %n, 0
  br i1 %z, label %one, label %rec
one:
  ret i32 1
rec:
  %m = sub i32 %n, 1
  %r = call i32 @)" + odd.name() + R"($x(i32 %m)
  ret i32 %r
}
)",
                               "body"));
    add_generator(table, kernel, Signature({Ptr(Int32())}), [&even](GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        auto* out = g.function().getArg(0);
        b.CreateStore(g.call(b, even, {{Int32(), b.getInt32(10)}}), out);
        b.CreateStore(g.call(b, even, {{Int32(), b.getInt32(7)}}),
                      b.CreateConstGEP1_32(b.getInt32Ty(), out, 1));
        b.CreateRetVoid();
    });

    KernelCompiler kc(table, "recursion");
    Type tt = Type::tuple({Ptr(Int32())});
    llvm::LLVMContext ctx;
    auto m = kc.build_module(kernel, tt, kHost, ctx);
    int defined = 0;
    for (auto& f : *m)
        defined += !f.isDeclaration() && !f.getName().starts_with("kcache.");
    EXPECT_EQ(defined, 3); // kernel, even, odd: each once

    auto a = kc.compile(kernel, tt, kHost);
    HostModule hm(*a);
    auto fn = hm.lookup<void (*)(std::int32_t*, host::LaunchContext*)>(kernel.name());
    std::int32_t out[2] = {-1, -1};
    launch({1}, {1}, 0, [&](host::LaunchContext* c) { fn(out, c); });
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(out[1], 0);

    // Both recursive functions are dependencies: redefining `odd` recompiles the kernel.
    add_generator(
        table, odd, Signature({Int32()}),
        [](GenContext& g) {
            llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
            b.CreateRet(b.getInt32(42));
        },
        Int32());
    EXPECT_EQ(kc.lookup(kernel, tt, kHost), nullptr);
}

TEST(KernelCompiler, BitcodeMethodsAndRepeatedDeclarationsOfOneCallee) {
    MethodTable& table = fresh_table("bitcode");
    Function& helper = Function::define(unique("helper"));
    Function& kernel = Function::define(unique("kernel"));
    add_generator(table, helper, Signature({Float32()}), add_const(0.5f), Float32());
    // Two declarations (suffixes $a and $b) of the same specialisation: linked as one function.
    std::string ir = R"(
declare !kcache.types !0 float @)" +
                     helper.name() + R"($a(float)
declare !kcache.types !0 float @)" +
                     helper.name() + R"($b(float)
define void @)" + kernel.name() +
                     R"((ptr addrspace(1) %out) {
  %x = call float @)" +
                     helper.name() + R"($a(float 1.0)
  %y = call float @)" +
                     helper.name() + R"($b(float %x)
  store float %y, ptr addrspace(1) %out
  ret void
}
!0 = !{!"Float32"}
)";
    llvm::LLVMContext ctx;
    auto parsed = parse_ir(ir, ctx);
    llvm::SmallVector<char, 0> buffer;
    llvm::raw_svector_ostream os(buffer);
    llvm::WriteBitcodeToFile(*parsed, os);
    add_ir_method(table, kernel, Signature({Ptr(Float32())}),
                  LlvmIR::bitcode(std::vector<std::uint8_t>(buffer.begin(), buffer.end())));

    KernelCompiler kc(table, "bitcode");
    llvm::LLVMContext ctx2;
    auto m = kc.build_module(kernel, kernel_tt(), kHost, ctx2);
    int helpers = 0;
    for (auto& f : *m)
        helpers += f.getName().starts_with(helper.name());
    EXPECT_EQ(helpers, 1);
    EXPECT_EQ(run_store_kernel(*kc.compile(kernel, kernel_tt(), kHost)), 2.0f);
}

// An in-memory store keyed by kernel symbol and spec, standing in for a content-hash store.
class FakeStore : public ArtifactStore {
public:
    class Put final : public Pending {
    public:
        Put(FakeStore& store, std::string key) : store_(store), key_(std::move(key)) {}
        ~Put() override { ++store_.pending_ended; }
        ArtifactPtr publish(ArtifactPtr a) override {
            std::lock_guard lock(store_.mutex);
            return store_.stored.emplace(key_, a).first->second;
        }

    private:
        FakeStore& store_;
        std::string key_;
    };
    ArtifactPtr recall(const CompileInfo&, Resolver&) override {
        ++recalls;
        return nullptr;
    }
    Probe probe(llvm::Module& prepared, const CompileInfo& info,
                std::span<const Dispatch> made) override {
        ++probes;
        saw_prepared = prepared.getNamedMetadata("kcache.kernel") != nullptr;
        dispatches.assign(made.begin(), made.end());
        std::string key = info.kernel_symbol + "@" + to_string(info.spec);
        std::lock_guard lock(mutex);
        if (auto it = stored.find(key); it != stored.end())
            return {it->second, nullptr};
        return {nullptr, std::make_unique<Put>(*this, key)};
    }
    std::mutex mutex;
    std::map<std::string, ArtifactPtr> stored;
    std::vector<Dispatch> dispatches;
    int probes = 0, recalls = 0, pending_ended = 0;
    bool saw_prepared = false;
};

TEST(KernelCompiler, ArtifactStoreSeamCanAnswerWithAStoredArtifact) {
    register_all();
    FakeStore store;
    const Function& saxpy = Function::named("saxpy");
    Type tt = tt_of<float, float*, float*, std::int32_t>();
    const TargetSpec spec{TargetKind::amdgpu(), "gfx942", 3};

    KernelCompiler first(MethodTable::global(), unique("store1"), &store);
    auto a = first.compile(saxpy, tt, spec);
    EXPECT_TRUE(store.saw_prepared);
    EXPECT_EQ(store.recalls, 1);
    EXPECT_EQ(store.probes, 1);
    EXPECT_EQ(store.pending_ended, 1);
    EXPECT_EQ(first.stats().store_hits, 0u);
    // The store sees the one dispatch the build made: saxpy's muladd.
    ASSERT_EQ(store.dispatches.size(), 1u);
    EXPECT_EQ(store.dispatches[0].function, &Function::named("muladd"));
    EXPECT_EQ(store.dispatches[0].tt, Type::tuple({Float32(), Float32(), Float32()}));
    EXPECT_EQ(&store.dispatches[0].chosen->function(), &Function::named("muladd"));
    EXPECT_GT(first.stats().optimize.count(), 0);

    // A fresh cache: the compile builds and prepares, then the store answers.
    KernelCompiler second(MethodTable::global(), unique("store2"), &store);
    auto b = second.compile(saxpy, tt, spec);
    EXPECT_EQ(b, a);
    EXPECT_EQ(store.probes, 2);
    EXPECT_EQ(second.stats().store_hits, 1u);
    EXPECT_EQ(second.stats().optimize.count(), 0);
    EXPECT_EQ(second.stats().emit.count(), 0);
    EXPECT_EQ(second.lookup(saxpy, tt, spec), a); // and the cache holds it
}

// Four threads miss on one entry at once: the generator holds the one compilation until the
// cache has counted all four misses, so none of them can have been served by a finished entry;
// all four get the one artifact, built once.
TEST(KernelCompiler, ConcurrentMissesCompileOnce) {
    constexpr int kThreads = 4;
    MethodTable& table = fresh_table("concurrent");
    Function& kernel = Function::define(unique("kernel"));
    KernelCompiler kc(table, "concurrent");
    std::atomic<int> generator_runs{0};
    add_generator(table, kernel, Signature({Ptr(Float32())}), [&](GenContext& g) {
        ++generator_runs;
        // No timing assumption: the misses are counted before a thread waits or compiles.
        while (kc.cache().stats().misses < kThreads)
            std::this_thread::yield();
        store_value(3.0f)(g);
    });

    std::latch start(kThreads);
    ArtifactPtr results[kThreads];
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            results[i] = kc.compile(kernel, kernel_tt(), kHost);
        });
    for (auto& t : threads)
        t.join();
    for (auto& r : results)
        EXPECT_EQ(r, results[0]);
    EXPECT_EQ(kc.cache().stats().misses, std::uint64_t(kThreads));
    EXPECT_EQ(kc.cache().stats().compilations, 1u);
    EXPECT_EQ(kc.stats().compilations, 1u);
    EXPECT_EQ(generator_runs.load(), 1);
    EXPECT_EQ(run_store_kernel(*results[0]), 3.0f);
}

TEST(KernelCompiler, LinkedModuleHoldsEntryAndCalleeSpecialisations) {
    register_all();
    KernelCompiler kc(MethodTable::global(), unique("linked"));
    llvm::LLVMContext ctx;
    auto m = kc.build_module(
        Function::named("saxpy"),
        Type::tuple({types::Float16(), Ptr(types::Float16()), Ptr(types::Float16()), Int32()}),
        {TargetKind::nvptx(), "sm_80", 2}, ctx);
    ASSERT_NE(m->getFunction("saxpy"), nullptr);
    EXPECT_FALSE(m->getFunction("saxpy")->isDeclaration());
    auto* helper = m->getFunction("muladd.Float16.Float16.Float16");
    ASSERT_NE(helper, nullptr);
    EXPECT_FALSE(helper->isDeclaration());
    EXPECT_TRUE(helper->getReturnType()->isHalfTy());
}

} // namespace
} // namespace kcache::test
