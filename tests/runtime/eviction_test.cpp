// Eviction: redefining a callee (or shadowing it in an overlay) unloads the modules compiled
// from it once their launches (through launch() or a kernel handle) are done, the next launch loads
// the new code, unrelated kernels stay loaded; concurrent launches during redefinitions always run
// one consistent definition.
#include "test_support.hpp"

#include "kernels/library/library.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <set>
#include <thread>

namespace kcache::test {
namespace {

using runtime::DeviceBuffer;
using I32 = std::int32_t;
using namespace types;

struct Fixture {
    MethodTable& table = MethodTable::create_root(unique("evict_table"));
    Function& helper = Function::define(unique("helper"));
    Function& user = Function::define(unique("user"));
    Function& other = Function::define(unique("other"));
    Function& unrelated = Function::define(unique("unrelated"));
    Function& id = Function::define(unique("id"));
    Fixture() {
        kernels::add_generator(table, helper, Signature({Float32()}), add_const(1.0f), Float32());
        kernels::add_generator(table, id, Signature({Float32()}), add_const(0.0f), Float32());
        kernels::add_generator(table, user, Signature({Ptr(Float32()), Int32()}),
                               store_callee(helper));
        kernels::add_generator(table, other, Signature({Ptr(Float32()), Int32()}),
                               store_callee(helper));
        kernels::add_generator(table, unrelated, Signature({Ptr(Float32()), Int32()}),
                               store_callee(id));
    }
    void redefine_helper(float c) {
        kernels::add_generator(table, helper, Signature({Float32()}), add_const(c), Float32());
    }
};

std::vector<float> run(runtime::Runtime& rt, const Function& k, std::size_t n) {
    auto& dev = rt.device();
    DeviceBuffer<float> out(dev, n);
    rt.launch(dev, k, {std::uint32_t((n + 31) / 32), 32}, out, I32(n));
    return out.to_vector();
}

TEST(Eviction, RedefinitionUnloadsDependentsOnlyAndReloadsNewCode) {
    Fixture fx;
    kernels::KernelCompiler compiler(fx.table, unique("evict"));
    auto dev = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    runtime::Runtime rt(compiler, {dev});
    const std::size_t n = 100;
    EXPECT_EQ(run(rt, fx.user, n)[7], 8.0f);
    EXPECT_EQ(run(rt, fx.other, n)[7], 8.0f);
    EXPECT_EQ(run(rt, fx.unrelated, n)[7], 7.0f);
    EXPECT_EQ(rt.stats().loads, 3u);
    EXPECT_EQ(dev->loaded_modules(), 3u);

    fx.redefine_helper(10.0f);
    // Both users are unloaded at once (nothing in flight); `unrelated` stays.
    EXPECT_EQ(rt.stats().evictions, 2u);
    EXPECT_EQ(rt.stats().deferred_evictions, 0u);
    EXPECT_EQ(dev->loaded_modules(), 1u);
    EXPECT_EQ(rt.loaded_modules(*dev), 1u);

    auto u = run(rt, fx.user, n);
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(u[i], float(i) + 10.0f);
    EXPECT_EQ(run(rt, fx.unrelated, n)[7], 7.0f);
    auto s = rt.stats();
    EXPECT_EQ(s.loads, 4u); // the new `user`; `unrelated` was not reloaded
    EXPECT_GE(s.hits, 1u);
    EXPECT_EQ(dev->loaded_modules(), 2u);
}

TEST(Eviction, OverlayShadowingTheLibraryMuladdReloadsSaxpy) {
    kernels::register_all();
    MethodTable& overlay = MethodTable::create_overlay(unique("rt_overlay"));
    kernels::KernelCompiler compiler(overlay, unique("overlay"));
    runtime::Runtime rt(compiler, {host_device()});
    auto& dev = rt.device();
    const std::size_t n = 77;
    std::vector<float> x(n, 2.0f), y(n, 1.0f);
    DeviceBuffer<float> dx(dev, x), dy(dev, y), fill_out(dev, n);
    auto saxpy = [&] {
        dy.upload(y);
        rt.launch(dev, Function::named("saxpy"), {3, 32}, 3.0f, dx, dy, I32(n));
        return dy.to_vector();
    };
    EXPECT_EQ(saxpy(), std::vector<float>(n, 7.0f));
    rt.launch(dev, Function::named("fill"), {3, 32}, fill_out, 1.0f, I32(n));
    EXPECT_EQ(rt.stats().loads, 2u);

    // @overlay muladd(a::Float32, b::Float32, c::Float32) = a * b - c
    kernels::add_generator(
        overlay, Function::named("muladd"), Signature({Float32(), Float32(), Float32()}),
        [](kernels::GenContext& g) {
            llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
            auto* f = &g.function();
            b.CreateRet(b.CreateFSub(b.CreateFMul(f->getArg(0), f->getArg(1)), f->getArg(2)));
        },
        Float32());
    EXPECT_EQ(rt.stats().evictions, 1u);
    EXPECT_EQ(saxpy(), std::vector<float>(n, 5.0f));
    rt.launch(dev, Function::named("fill"), {3, 32}, fill_out, 1.0f, I32(n));
    EXPECT_EQ(rt.stats().loads, 3u); // saxpy again; fill not reloaded
}

// Through Runtime::launch, or through a KernelHandle (true).
class DeferredEviction : public ::testing::TestWithParam<bool> {};

TEST_P(DeferredEviction, UntilTheInFlightLaunchHasFinished) {
    Fixture fx;
    Function& spin = Function::define(unique("spin"));
    kernels::add_generator(fx.table, spin, Signature({Ptr(Int32()), Ptr(Int32()), Ptr(Float32())}),
                           spin_then_call(fx.helper));
    kernels::KernelCompiler compiler(fx.table, unique("deferred"));
    auto dev = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<I32> started(*dev, std::vector<I32>{0}), go(*dev, std::vector<I32>{0});
    DeviceBuffer<float> out(*dev, 1);
    std::optional<runtime::KernelHandle<I32*, I32*, float*>> handle;
    if (GetParam())
        handle.emplace(rt.kernel<I32*, I32*, float*>(*dev, spin));
    auto launch = [&] {
        if (handle)
            (*handle)({1, 1}, started, go, out);
        else
            rt.launch(*dev, spin, {1, 1}, started, go, out);
    };

    std::thread launcher(launch);
    while (std::atomic_ref<I32>(*started.data()).load() == 0)
        std::this_thread::yield();
    fx.redefine_helper(100.0f); // the spinning launch still uses the old module
    EXPECT_EQ(rt.pending_unloads(), 1u);
    EXPECT_EQ(rt.stats().evictions, 0u);
    EXPECT_EQ(dev->loaded_modules(), 1u);   // not unloaded under the running launch
    EXPECT_EQ(rt.loaded_modules(*dev), 0u); // but no longer handed out
    std::atomic_ref<I32>(*go.data()).store(1);
    launcher.join();
    EXPECT_EQ(out.to_vector()[0], 2.0f); // old definition, consistently
    EXPECT_EQ(rt.pending_unloads(), 0u);
    EXPECT_EQ(rt.stats().evictions, 1u);
    EXPECT_EQ(rt.stats().deferred_evictions, 1u); // by the launch's completion
    EXPECT_EQ(dev->loaded_modules(), 0u);

    std::atomic_ref<I32>(*started.data()).store(0);
    launch(); // go is set: returns at once, with the new code
    EXPECT_EQ(out.to_vector()[0], 101.0f);
}

INSTANTIATE_TEST_SUITE_P(Eviction, DeferredEviction, ::testing::Bool(), [](const auto& info) {
    return std::string(info.param ? "ThroughAHandle" : "ThroughLaunch");
});

TEST(Eviction, ConcurrentLaunchesWhileACalleeIsRedefined) {
    Fixture fx;
    kernels::KernelCompiler compiler(fx.table, unique("concurrent"));
    runtime::Runtime rt(compiler, {host_device()});
    constexpr int kDefinitions = 8;
    std::set<float> allowed{1.0f};
    for (int d = 1; d <= kDefinitions; ++d)
        allowed.insert(float(d * 10));
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0}, launches{0};
    auto worker = [&](const Function& k) {
        const std::size_t n = 300;
        auto& dev = rt.device();
        DeviceBuffer<float> out(dev, n);
        while (!stop.load()) {
            rt.launch(dev, k, {10, 32}, out, I32(n));
            auto v = out.to_vector();
            const float c = v[0]; // helper(0) = the definition's constant
            if (!allowed.count(c))
                bad.fetch_add(1);
            for (std::size_t i = 0; i < n; ++i)
                if (v[i] != float(i) + c) {
                    bad.fetch_add(1);
                    break;
                }
            launches.fetch_add(1);
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back(worker, std::cref(t == 2 ? fx.other : fx.user));
    for (int d = 1; d <= kDefinitions; ++d) {
        const int before = launches.load();
        while (launches.load() < before + 3)
            std::this_thread::yield();
        fx.redefine_helper(float(d * 10));
    }
    const int before = launches.load();
    while (launches.load() < before + 6)
        std::this_thread::yield();
    stop = true;
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(rt.pending_unloads(), 0u);
    // After the last definition, every launch sees it.
    EXPECT_EQ(run(rt, fx.user, 5)[2], 2.0f + kDefinitions * 10);
    auto s = rt.stats();
    EXPECT_EQ(s.loads - s.evictions, rt.loaded_modules(rt.device()));
    EXPECT_LE(rt.loaded_modules(rt.device()), 2u);
    EXPECT_GE(s.evictions, std::uint64_t(kDefinitions)); // at least `user` each time
}

} // namespace
} // namespace kcache::test
