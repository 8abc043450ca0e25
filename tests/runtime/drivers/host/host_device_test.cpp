// The host device itself and the launch API: memory, target, caching, errors, two devices.
#include "test_support.hpp"

#include "core/errors.hpp"
#include "kernels/library/library.hpp"

#include <gtest/gtest.h>

#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <unistd.h>

namespace kcache::test {
namespace {

using runtime::DeviceBuffer;
using runtime::Dim3;
using runtime::LaunchConfig;

TEST(HostDevice, EnumeratesTheHostWithItsCpuAsShardKey) {
    auto devices = runtime::enumerate_devices();
    ASSERT_FALSE(devices.empty());
    EXPECT_EQ(devices.front()->kind(), runtime::DeviceKind::host());
    EXPECT_EQ(devices.front()->target().kind, TargetKind::host());
    EXPECT_EQ(devices.front()->target().arch, llvm::sys::getHostCPUName().str());
    EXPECT_NE(devices.front()->name().find("host"), std::string::npos);
}

TEST(HostDevice, BuffersCopyBothWaysAndRelease) {
    auto dev = host_device();
    std::vector<int> h(1000);
    std::iota(h.begin(), h.end(), -3);
    DeviceBuffer<int> a(*dev, h);
    EXPECT_EQ(a.size(), 1000u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 256, 0u);
    EXPECT_EQ(a.to_vector(), h);
    DeviceBuffer<int> b(*dev, 1000);
    b.copy_from(a);
    EXPECT_EQ(b.to_vector(), h);
    DeviceBuffer<int> c = std::move(b);
    EXPECT_EQ(b.data(), nullptr);
    EXPECT_EQ(c.to_vector(), h);
    std::vector<int> big(2000);
    EXPECT_THROW(c.upload(big), InvalidArgumentError);
    // An upload ordered on a stream writes just its part once the stream is synchronised.
    std::vector<int> head(10, -1);
    auto s = dev->create_stream();
    c.upload(std::span<const int>(head), s.get());
    s->synchronize();
    std::vector<int> expected = h;
    std::fill(expected.begin(), expected.begin() + 10, -1);
    EXPECT_EQ(c.to_vector(), expected);
}

class HostLaunch : public ::testing::Test {
protected:
    static void SetUpTestSuite() { kernels::register_all(); }
    kernels::KernelCompiler compiler_{MethodTable::global(), unique("HostLaunch")};
    runtime::Runtime rt_{compiler_, {host_device()}};
};

TEST_F(HostLaunch, SecondLaunchHitsAndLoadsOnce) {
    auto& dev = rt_.device();
    const Function& fill = Function::named("fill");
    DeviceBuffer<float> out(dev, 100);
    rt_.launch(dev, fill, {4, 32}, out, 1.0f, std::int32_t(100));
    rt_.launch(dev, fill, {4, 32}, out, 2.0f, std::int32_t(100));
    rt_.launch(dev, fill, {4, 32}, out, 3.0f, std::int32_t(100));
    for (float v : out.to_vector())
        ASSERT_EQ(v, 3.0f);
    auto s = rt_.stats();
    EXPECT_EQ(s.loads, 1u);
    EXPECT_EQ(s.misses, 1u);
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(compiler_.cache().stats().compilations, 1u);
    EXPECT_EQ(rt_.loaded_modules(dev), 1u);
    // Another type tuple is another specialisation, another module.
    DeviceBuffer<std::int32_t> iout(dev, 10);
    rt_.launch(dev, fill, {1, 16}, iout, std::int32_t(7), std::int32_t(10));
    for (int v : iout.to_vector())
        ASSERT_EQ(v, 7);
    EXPECT_EQ(rt_.stats().loads, 2u);
}

TEST_F(HostLaunch, WrongArgumentsFailBeforeLaunching) {
    auto& dev = rt_.device();
    const Function& fill = Function::named("fill");
    DeviceBuffer<float> out(dev, 10);
    EXPECT_THROW(rt_.launch(dev, fill, {1, 16}, out, 1.0f), MethodError); // arity
    DeviceBuffer<double> dout(dev, 10);
    EXPECT_THROW(rt_.launch(dev, fill, {1, 16}, dout, 1.0f, std::int32_t(10)), MethodError);
    EXPECT_THROW(rt_.launch(dev, fill, {1, 16}, out, 1.0, std::int32_t(10)), MethodError);
    EXPECT_EQ(rt_.stats().loads, 0u);
    // A buffer of another device.
    runtime::HostDevice other({1});
    DeviceBuffer<float> foreign(other, 10);
    EXPECT_THROW(rt_.launch(dev, fill, {1, 16}, foreign, 1.0f, std::int32_t(10)),
                 runtime::LaunchError);
    EXPECT_EQ(rt_.stats().loads, 0u);
    // A block the device cannot run: the module is loaded, nothing runs, nothing stays in flight.
    EXPECT_THROW(rt_.launch(dev, fill, {1, 2048}, out, 1.0f, std::int32_t(10)),
                 runtime::LaunchError);
    EXPECT_THROW(rt_.launch(dev, fill, {Dim3{0}, 32}, out, 1.0f, std::int32_t(10)),
                 runtime::LaunchError);
    EXPECT_EQ(rt_.pending_unloads(), 0u);
}

TEST(HostLaunchTwoDevices, ShareTheArtifactButLoadSeparately) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("TwoDevices"));
    auto d1 = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    auto d2 = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    ASSERT_EQ(d1->target(), d2->target());
    runtime::Runtime rt(compiler, {d1, d2});
    const Function& fill = Function::named("fill");
    DeviceBuffer<float> a(*d1, 50), b(*d2, 50);
    rt.launch(*d1, fill, {2, 32}, a, 4.0f, std::int32_t(50));
    rt.launch(*d2, fill, {2, 32}, b, 5.0f, std::int32_t(50));
    EXPECT_EQ(a.to_vector(), std::vector<float>(50, 4.0f));
    EXPECT_EQ(b.to_vector(), std::vector<float>(50, 5.0f));
    EXPECT_EQ(compiler.cache().stats().compilations, 1u);
    EXPECT_EQ(rt.stats().loads, 2u);
    EXPECT_EQ(d1->loaded_modules(), 1u);
    EXPECT_EQ(d2->loaded_modules(), 1u);
}

TEST(HostLaunchRuntime, DestroyingTheRuntimeUnloadsItsModules) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("Destroy"));
    auto d = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    {
        runtime::Runtime rt(compiler, {d});
        DeviceBuffer<float> a(*d, 5);
        rt.launch(*d, Function::named("fill"), {1, 8}, a, 1.0f, std::int32_t(5));
        EXPECT_EQ(d->loaded_modules(), 1u);
    }
    EXPECT_EQ(d->loaded_modules(), 0u);
}

// Barriers across a full 1024-thread block, a 3-D grid, and threads that exit before a barrier.
TEST(HostLaunchBarrier, ThreeDimensionalGridsAndEarlyExitBeforeBarrier) {
    MethodTable& table = MethodTable::create_root(unique("barrier_table"));
    Function& k = Function::define(unique("rev"));
    // out[base + (T-1-t)] = in[base + t] through shared memory, T = block size; threads with
    // t % 7 == 3 (after writing their slot) exit before the barrier... not allowed to skip the
    // read-back, so they only skip a second, no-op barrier.
    kernels::add_generator(
        table, k, Signature({types::Ptr(types::Int32()), types::Ptr(types::Int32())}),
        [](kernels::GenContext& g) {
            namespace emit = kernels::emit;
            llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
            auto* i32 = b.getInt32Ty();
            llvm::Value* tile = emit::shared_array(g, i32, 1024, "rev_tile");
            llvm::Value* t =
                b.CreateAdd(emit::thread_idx(b, 0),
                            b.CreateMul(emit::block_dim(b, 0),
                                        b.CreateAdd(emit::thread_idx(b, 1),
                                                    b.CreateMul(emit::block_dim(b, 1),
                                                                emit::thread_idx(b, 2)))));
            llvm::Value* T = b.CreateMul(emit::block_dim(b, 0),
                                         b.CreateMul(emit::block_dim(b, 1), emit::block_dim(b, 2)));
            llvm::Value* blk = b.CreateAdd(
                emit::block_idx(b, 0),
                b.CreateMul(emit::grid_dim(b, 0),
                            b.CreateAdd(emit::block_idx(b, 1),
                                        b.CreateMul(emit::grid_dim(b, 1), emit::block_idx(b, 2)))));
            llvm::Value* base = b.CreateMul(blk, T);
            emit::store(b, emit::load(b, i32, g.function().getArg(0), b.CreateAdd(base, t)), tile,
                        t);
            emit::barrier(b);
            llvm::Value* r = b.CreateSub(b.CreateSub(T, t), b.getInt32(1));
            emit::store(b, emit::load(b, i32, tile, r), g.function().getArg(1),
                        b.CreateAdd(base, t));
            emit::if_then(b, b.CreateICmpNE(b.CreateURem(t, b.getInt32(7)), b.getInt32(3)),
                          [&] { emit::barrier(b); });
            b.CreateRetVoid();
        });
    kernels::KernelCompiler compiler(table, unique("barrier"));
    runtime::Runtime rt(compiler, {host_device()});
    auto& dev = rt.device();
    struct Shape {
        runtime::Dim3 grid, block;
    };
    for (Shape s : {Shape{{1}, {1024}}, Shape{{3, 2, 2}, {8, 4, 2}}, Shape{{5}, {1}},
                    Shape{{2, 3}, {16, 16}}}) {
        const std::uint64_t T = s.block.count(), n = T * s.grid.count();
        std::vector<std::int32_t> in(n);
        std::iota(in.begin(), in.end(), 0);
        DeviceBuffer<std::int32_t> din(dev, in), dout(dev, n);
        rt.launch(dev, k, {s.grid, s.block}, din, dout);
        auto out = dout.to_vector();
        for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint64_t base = i / T * T, t = i % T;
            ASSERT_EQ(out[i], in[base + T - 1 - t]) << "block " << s.block.count() << " i " << i;
        }
    }
}

} // namespace
} // namespace kcache::test

namespace kcache::test {
namespace {

std::size_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (std::fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); // statm counts pages
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1 // clang's way of saying it
#endif
#endif

TEST(HostDevice, UnloadingAModuleFreesItsJitMemory) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer keeps freed memory resident (its quarantine), so resident "
                    "size cannot show that unloading frees; the normal build checks it";
#endif
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("Unload"));
    runtime::HostDevice dev({1});
    auto art = compiler.compile(
        Function::named("matmul_tiled"),
        tt_of<float*, float*, float*, std::int32_t, std::int32_t, std::int32_t>(), dev.target());
    for (int i = 0; i < 50; ++i)
        dev.load(*art); // warm up allocators
    ASSERT_GT(resident_bytes(), 0u) << "/proc/self/statm unreadable: nothing to measure";

    // What modules cost when they stay loaded: the yardstick for the loop below.
    constexpr int kKept = 200, kCycled = 1000;
    std::size_t kept_cost = 0;
    {
        std::vector<std::unique_ptr<runtime::Module>> kept;
        const std::size_t before = resident_bytes();
        for (int i = 0; i < kKept; ++i)
            kept.push_back(dev.load(*art));
        kept_cost = resident_bytes() - before;
        EXPECT_EQ(dev.loaded_modules(), std::size_t(kKept));
    }
    EXPECT_EQ(dev.loaded_modules(), 0u);
    ASSERT_GT(kept_cost, 0u);

    // Loaded and unloaded five times as many: if unloading kept their memory, this would cost
    // about five times as much as keeping kKept; it must cost less than keeping them.
    const std::size_t before = resident_bytes();
    for (int i = 0; i < kCycled; ++i) {
        auto m = dev.load(*art);
        ASSERT_NE(m->function(), nullptr);
        ASSERT_EQ(m->static_shared_bytes(), art->static_shared_bytes);
    }
    EXPECT_EQ(dev.loaded_modules(), 0u);
    const std::size_t after = resident_bytes();
    const std::size_t cycled_cost = after > before ? after - before : 0;
    EXPECT_LT(cycled_cost, kept_cost)
        << "kept " << kKept << " modules: " << kept_cost << " bytes; loaded and unloaded "
        << kCycled << ": " << cycled_cost << " bytes";
}

} // namespace
} // namespace kcache::test
