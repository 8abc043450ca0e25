// The CUDA and HIP backends against their real drivers. Where there is truly no device (no
// driver library, the backend compiled out, or a driver that reports none) the device tests skip
// with the reason; where /dev/nvidia0 or /dev/kfd exists, or KCACHE_REQUIRE_GPU names the
// backend, a backend that does not come up fails them (see test_device). The error paths that a
// real driver rarely shows run against the fake driver (fake_driver_test.cpp).
#include "test_support.hpp"

#include "kernels/library/library.hpp"
#include "runtime/errors.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <set>
#include <thread>

namespace kcache::test {
namespace {

using runtime::DeviceBuffer;
using runtime::DeviceKind;
using runtime::Dim3;
using runtime::LaunchConfig;
using I32 = std::int32_t;
using namespace types;

runtime::GpuDevice& gpu(runtime::Device& d) {
    return dynamic_cast<runtime::GpuDevice&>(d);
}

std::uint32_t blocks_for(std::size_t n, std::uint32_t block) {
    return static_cast<std::uint32_t>((n + block - 1) / block);
}

// In a child process (the driver is loaded once per process): with `env` naming a library that
// does not exist, discovery fails twice with a DriverUnavailableError naming it, or saying the
// backend is compiled out. Exits 0 when it does.
void expect_missing_driver(DeviceKind kind, const char* env, const char* path, bool compiled) {
    setenv(env, path, 1);
    for (int attempt = 0; attempt < 2; ++attempt) { // the error stays; nothing is half-loaded
        try {
            runtime::DeviceRegistry::discover(kind);
            std::fputs("no error\n", stderr);
            std::exit(1);
        } catch (const runtime::DriverUnavailableError& e) {
            const std::string what = e.what();
            std::fprintf(stderr, "%s\n", what.c_str());
            if (what.find(compiled ? path : "compiled out") == std::string::npos)
                std::exit(2);
        }
    }
    std::exit(0);
}

#ifdef KCACHE_TEST_HAVE_CUDA_H
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif
#ifdef KCACHE_TEST_HAVE_HIP_H
constexpr bool kHipCompiled = true;
#else
constexpr bool kHipCompiled = false;
#endif

class MissingDriver : public ::testing::TestWithParam<DeviceKind> {};

TEST_P(MissingDriver, IsAClearErrorOnFirstUse) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    if (GetParam() == DeviceKind::cuda())
        EXPECT_EXIT(expect_missing_driver(DeviceKind::cuda(), "KCACHE_CUDA_DRIVER",
                                          "/nonexistent/libcuda.so.1", kCudaCompiled),
                    ::testing::ExitedWithCode(0), "^CUDA: ");
    else
        EXPECT_EXIT(expect_missing_driver(DeviceKind::hip(), "KCACHE_HIP_RUNTIME",
                                          "/nonexistent/libamdhip64.so", kHipCompiled),
                    ::testing::ExitedWithCode(0), "^HIP: ");
}

INSTANTIATE_TEST_SUITE_P(GpuBackends, MissingDriver,
                         ::testing::Values(DeviceKind::cuda(), DeviceKind::hip()),
                         [](const auto& info) {
                             return std::string(runtime::to_string(info.param));
                         });

TEST(GpuBackends, EnumerationListsTheHostFirstThenUsableGpusAndWhyOthersAreNot) {
    std::vector<runtime::UnusableDevice> unusable;
    auto devices = runtime::enumerate_devices(&unusable);
    ASSERT_FALSE(devices.empty());
    EXPECT_EQ(devices.front()->kind(), DeviceKind::host());
    for (auto& d : devices) {
        if (d->kind() == DeviceKind::cuda()) {
            EXPECT_EQ(d->target().kind, TargetKind::nvptx());
            EXPECT_EQ(d->target().arch.rfind("sm_", 0), 0u) << d->target().arch;
        } else if (d->kind() == DeviceKind::hip()) {
            EXPECT_EQ(d->target().kind, TargetKind::amdgpu());
            EXPECT_EQ(d->target().arch.rfind("gfx", 0), 0u) << d->target().arch;
        }
    }
    for (auto& u : unusable)
        EXPECT_FALSE(u.reason.empty()) << runtime::to_string(u.kind) << " " << u.ordinal;
    for (DeviceKind kind : {DeviceKind::cuda(), DeviceKind::hip()}) {
        const std::string required = gpu_requirement(kind);
        if (required.empty())
            continue;
        const bool present =
            std::any_of(devices.begin(), devices.end(), [&](auto& d) { return d->kind() == kind; });
        EXPECT_TRUE(present) << required << ", but no usable " << runtime::to_string(kind)
                             << " device: "
                             << (unusable.empty() ? "nothing reported" : unusable.front().reason);
    }
}

class Gpu : public ::testing::TestWithParam<DeviceKind> {
protected:
    static void SetUpTestSuite() { kernels::register_all(); }
    const Function& fn(const char* name) { return Function::named(name); }
};

// Redefinition on a GPU: the old module is unloaded by the driver once its work is done (counted
// by the device, not by the runtime's retirements), the next launch runs the new code.
TEST_P(Gpu, RedefinitionUnloadsTheOldModuleAndReloadsNewCode) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    RedefinableKernel k;
    kernels::KernelCompiler compiler(k.table, unique("gpu_evict"));
    runtime::Runtime rt(compiler, {dev});
    runtime::GpuDevice& g = gpu(*dev);
    g.wait_for_unloads();
    const std::size_t loaded = g.loaded_modules();
    const std::uint64_t unloaded = g.unloaded_modules();
    runtime::DeviceBuffer<float> out(*dev, 100);
    rt.launch(*dev, k.user, {4, 32}, out, I32(100));
    EXPECT_EQ(out.to_vector()[5], 6.0f);
    EXPECT_EQ(g.loaded_modules(), loaded + 1);
    k.redefine(7.0f);
    g.wait_for_unloads();
    EXPECT_EQ(g.unloaded_modules(), unloaded + 1);
    EXPECT_EQ(g.loaded_modules(), loaded);
    rt.launch(*dev, k.user, {4, 32}, out, I32(100));
    EXPECT_EQ(out.to_vector()[5], 12.0f);
    EXPECT_EQ(rt.stats().loads, 2u);
}

// Work on two user streams, then an eviction while the second stream still holds launches of the
// evicted module: they finish with the old code, and the module is unloaded after them.
TEST_P(Gpu, UserStreamsOrderTheirOwnWorkAndHoldOffEviction) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    RedefinableKernel k;
    kernels::KernelCompiler compiler(k.table, unique("gpu_streams"));
    runtime::Runtime rt(compiler, {dev});
    runtime::GpuDevice& g = gpu(*dev);
    g.wait_for_unloads(); // what earlier tests left
    const std::size_t n = 1 << 16;
    auto s1 = dev->create_stream(), s2 = dev->create_stream();
    DeviceBuffer<float> a(*dev, n), b(*dev, n);
    for (int i = 0; i < 20; ++i) {
        rt.launch(*dev, fn("fill"), {blocks_for(n, 256), 256, 0, s1.get()}, a, float(i), I32(n));
        rt.launch(*dev, k.user, {blocks_for(n, 256), 256, 0, s2.get()}, b, I32(n));
    }
    const std::uint64_t unloaded = g.unloaded_modules();
    k.redefine(5.0f);
    std::vector<float> ha(n), hb(n);
    a.download(ha, s1.get());
    b.download(hb, s2.get());
    for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(ha[i], 19.0f) << i;
        ASSERT_EQ(hb[i], float(i) + 1.0f) << i; // the old definition, run to the end
    }
    g.wait_for_unloads();
    EXPECT_EQ(g.unloaded_modules(), unloaded + 1);
    rt.launch(*dev, k.user, {blocks_for(n, 256), 256, 0, s2.get()}, b, I32(n));
    b.download(hb, s2.get());
    EXPECT_EQ(hb[3], 8.0f);
    // A stream destroyed with work queued: the eviction after it still waits for that work.
    rt.launch(*dev, k.user, {blocks_for(n, 256), 256, 0, s1.get()}, a, I32(n));
    s1.reset();
    k.redefine(9.0f);
    g.wait_for_unloads();
    EXPECT_EQ(g.unloaded_modules(), unloaded + 2);
    EXPECT_EQ(a.to_vector()[3], 8.0f);
}

TEST_P(Gpu, LaunchesFromSeveralThreads) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    kernels::KernelCompiler compiler(MethodTable::global(), unique("gpu_threads"));
    runtime::Runtime rt(compiler, {dev});
    constexpr int kThreads = 4, kRounds = 25;
    const std::size_t n = 4096;
    std::latch start(kThreads);
    std::atomic<int> wrong{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            try {
                auto stream = dev->create_stream();
                DeviceBuffer<float> x(*dev, n), y(*dev, n);
                std::vector<float> hy(n);
                start.arrive_and_wait();
                for (int r = 0; r < kRounds; ++r) {
                    const float v = float(t * 100 + r);
                    LaunchConfig c{blocks_for(n, 128), 128, 0, stream.get()};
                    rt.launch(*dev, fn("fill"), c, x, v, I32(n));
                    rt.launch(*dev, fn("fill"), c, y, 1.0f, I32(n));
                    rt.launch(*dev, fn("saxpy"), c, 2.0f, x, y, I32(n));
                    y.download(hy, stream.get());
                    for (float got : hy)
                        if (got != 2.0f * v + 1.0f) {
                            wrong.fetch_add(1);
                            break;
                        }
                }
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
                errors.fetch_add(1);
            }
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(wrong.load(), 0);
    auto s = rt.stats();
    EXPECT_EQ(s.loads, 2u); // fill and saxpy, once each whatever the threads
    EXPECT_EQ(s.hits + s.misses, std::uint64_t(kThreads * kRounds * 3));
}

// The spinning kernel the eviction test below runs on a GPU lowers for each GPU target here,
// so that a GPU run can only fail on what the GPU does.
TEST(GpuKernels, TheSpinningKernelLowersForEachGpuTarget) {
    RedefinableKernel k;
    Function& spin = Function::define(unique("spin"));
    kernels::add_generator(k.table, spin, Signature({Ptr(Int32()), Ptr(Int32()), Ptr(Float32())}),
                           spin_then_call(k.helper));
    kernels::KernelCompiler compiler(k.table, unique("gpu_spin_lowering"));
    const Type tt = tt_of<I32*, I32*, float*>();
    auto ptx = compiler.compile(spin, tt, {TargetKind::nvptx(), "sm_90", 2});
    EXPECT_NE(ptx->ptx.find("ld.volatile.global"), std::string::npos) << ptx->ptx;
    auto hsaco = compiler.compile(spin, tt, {TargetKind::amdgpu(), "gfx90a", 2});
    EXPECT_FALSE(hsaco->bytes.empty());
}

// A kernel spinning on a flag in device memory while a redefinition evicts its module: the
// unload waits for it (no driver error), the spinning launch ends with the old code once the host
// sets the flag through another stream, and the next launch runs the new code.
TEST_P(Gpu, EvictionWaitsForAKernelSpinningInTheEvictedModule) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    RedefinableKernel k;
    Function& spin = Function::define(unique("spin"));
    kernels::add_generator(k.table, spin, Signature({Ptr(Int32()), Ptr(Int32()), Ptr(Float32())}),
                           spin_then_call(k.helper));
    kernels::KernelCompiler compiler(k.table, unique("gpu_spin"));
    runtime::Runtime rt(compiler, {dev});
    runtime::GpuDevice& g = gpu(*dev);
    g.wait_for_unloads(); // what earlier tests left
    const std::uint64_t unloaded = g.unloaded_modules();
    auto work = dev->create_stream(), control = dev->create_stream(); // neither waits for the other
    DeviceBuffer<I32> started(*dev, std::vector<I32>{0}), go(*dev, std::vector<I32>{0});
    DeviceBuffer<float> out(*dev, std::vector<float>{0.0f});
    rt.launch(*dev, spin, {1, 1, 0, work.get()}, started, go, out);

    // The kernel's first store sets `started`. A launch that went through runs (nothing else is
    // queued on the device); one that failed loses the context, and the download then throws.
    std::vector<I32> flag{0};
    while (flag[0] == 0)
        started.download(flag, control.get());
    ASSERT_EQ(flag[0], 1);

    k.redefine(100.0f); // evicts spin's module while the kernel runs in it
    EXPECT_EQ(rt.loaded_modules(*dev), 0u) << "the evicted module is still handed out";
    EXPECT_EQ(g.unloaded_modules(), unloaded) << "unloaded under a running kernel";
    go.upload(std::vector<I32>{1}, control.get());
    std::vector<float> result{0.0f};
    out.download(result, work.get());
    EXPECT_EQ(result[0], 2.0f); // helper(1) of the old definition, run to the end
    g.wait_for_unloads();
    EXPECT_EQ(g.unloaded_modules(), unloaded + 1);
    EXPECT_FALSE(g.unusable()) << "the device reported an error";

    started.upload(std::vector<I32>{0});
    rt.launch(*dev, spin, {1, 1, 0, work.get()}, started, go, out); // go is set: returns at once
    out.download(result, work.get());
    EXPECT_EQ(result[0], 101.0f);
    EXPECT_EQ(rt.stats().loads, 2u);
}

// Launches from several threads, each on its own stream, while the main thread redefines the
// callee again and again: every launch runs one whole definition, old or new, never a mix and
// never an unloaded module; after the last definition every launch sees it.
TEST_P(Gpu, LaunchesFromSeveralThreadsWhileAnotherRedefines) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    RedefinableKernel k;
    kernels::KernelCompiler compiler(k.table, unique("gpu_redefine_threads"));
    runtime::Runtime rt(compiler, {dev});
    constexpr int kThreads = 3, kDefinitions = 8;
    const std::size_t n = 1 << 14;
    std::set<float> allowed{1.0f};
    for (int d = 1; d <= kDefinitions; ++d)
        allowed.insert(float(d * 10));
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0}, errors{0};
    std::atomic<int> launches[kThreads] = {}; // per thread, done
    std::atomic<bool> failed[kThreads] = {};  // the thread stopped on an error
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            try {
                auto stream = dev->create_stream();
                DeviceBuffer<float> out(*dev, n);
                std::vector<float> host(n);
                while (!stop.load()) {
                    rt.launch(*dev, k.user, {blocks_for(n, 256), 256, 0, stream.get()}, out,
                              I32(n));
                    out.download(host, stream.get());
                    const float c = host[0]; // helper(0): the definition's constant
                    bool ok = allowed.count(c) == 1;
                    for (std::size_t i = 0; ok && i < n; ++i)
                        ok = host[i] == float(i) + c;
                    bad.fetch_add(!ok);
                    launches[t].fetch_add(1);
                }
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
                errors.fetch_add(1);
                failed[t] = true; // the main thread waits for its launches no more
            }
        });
    // Until every thread has run `more` launches more (two: at least one of them begun after the
    // call, so under the newest definition): each launches until `stop`, or stops on an error,
    // says so above and is waited for no more.
    auto wait_for_launches = [&](int more) {
        int target[kThreads];
        for (int t = 0; t < kThreads; ++t)
            target[t] = launches[t].load() + more;
        for (int t = 0; t < kThreads; ++t)
            while (launches[t].load() < target[t] && !failed[t].load())
                std::this_thread::yield();
    };
    for (int d = 1; d <= kDefinitions; ++d) {
        wait_for_launches(2);
        k.redefine(float(d * 10));
    }
    wait_for_launches(2);
    stop = true;
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(bad.load(), 0);
    DeviceBuffer<float> out(*dev, 8);
    rt.launch(*dev, k.user, {1, 32}, out, I32(8));
    EXPECT_EQ(out.to_vector()[2], 2.0f + kDefinitions * 10);
    gpu(*dev).wait_for_unloads();
    EXPECT_FALSE(gpu(*dev).unusable()) << "the device reported an error";
    auto s = rt.stats();
    EXPECT_GE(s.evictions, std::uint64_t(kDefinitions));
    EXPECT_EQ(s.loads - s.evictions, rt.loaded_modules(*dev));
}

TEST_P(Gpu, ImpossibleLaunchShapesAreLaunchErrorsBeforeAnythingRuns) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    kernels::KernelCompiler compiler(MethodTable::global(), unique("gpu_shapes"));
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, std::vector<float>(64, -1.0f));
    auto rejected = [&](const LaunchConfig& c, const char* expect) {
        try {
            rt.launch(*dev, fn("fill"), c, out, 1.0f, I32(64));
            ADD_FAILURE() << "launched: " << expect;
        } catch (const runtime::LaunchError& e) {
            EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
        }
    };
    rejected({Dim3{0}, Dim3{32}}, "empty grid or block");
    rejected({Dim3{1}, Dim3{32, 0}}, "empty grid or block");
    rejected({Dim3{1}, Dim3{2048}}, "block dimension x");
    rejected({Dim3{1}, Dim3{32, 32, 2}}, "threads per block");
    rejected({Dim3{1}, Dim3{32}, 1u << 30}, "shared memory");
    if (GetParam() == DeviceKind::cuda()) { // limits that AMD GPUs do not have
        rejected({Dim3{1, 1u << 20}, Dim3{32}}, "grid dimension y");
        rejected({Dim3{1}, Dim3{1, 1, 128}}, "block dimension z");
    }
    EXPECT_EQ(out.to_vector(), std::vector<float>(64, -1.0f)); // nothing ran
    rt.launch(*dev, fn("fill"), {2, 32}, out, 1.0f, I32(64));
    EXPECT_EQ(out.to_vector(), std::vector<float>(64, 1.0f));
}

// Dynamic shared memory past the 48 KiB a CUDA kernel gets by default needs the kernel's opt-in
// (made by the device); AMD GPUs have 64 KiB of LDS per workgroup without one.
TEST_P(Gpu, DynamicSharedMemoryPast48KiB) {
    KCACHE_TEST_DEVICE(dev, GetParam());
    kernels::KernelCompiler compiler(MethodTable::global(), unique("gpu_shared"));
    runtime::Runtime rt(compiler, {dev});
    const std::uint32_t bytes = GetParam() == DeviceKind::cuda() ? 100 * 1024 : 60 * 1024;
    DeviceBuffer<float> out(*dev, 256);
    rt.launch(*dev, fn("fill"), {2, 128, bytes}, out, 4.0f, I32(256));
    EXPECT_EQ(out.to_vector(), std::vector<float>(256, 4.0f));
    rt.launch(*dev, fn("fill"), {2, 128, bytes / 2}, out, 5.0f, I32(256));
    EXPECT_EQ(out.to_vector(), std::vector<float>(256, 5.0f));
}

INSTANTIATE_TEST_SUITE_P(Gpus, Gpu, ::testing::Values(DeviceKind::cuda(), DeviceKind::hip()),
                         [](const auto& info) {
                             return std::string(runtime::to_string(info.param));
                         });

// Loads `a` on `dev` directly and runs fill(out, v, n) from it.
std::vector<float> run_fill(runtime::Device& dev, const Artifact& a) {
    auto module = dev.load(a);
    const I32 n = 1000;
    DeviceBuffer<float> out(dev, std::size_t(n));
    float* p = out.data();
    float v = 3.25f;
    I32 count = n;
    void* values[] = {&p, &v, &count};
    dev.launch(*module, {blocks_for(n, 128), 128},
               {values, 3, runtime::detail::layout_of<float*, float, I32>()}, {});
    return out.to_vector();
}

TEST(CudaGpu, CubinFromNvJitLinkLoadsAndRuns) {
    KCACHE_TEST_DEVICE(dev, DeviceKind::cuda());
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("gpu_cubin"));
    auto a = compiler.compile(Function::named("fill"), tt_of<float*, float, I32>(), dev->target());
    if (a->format != "cubin")
        GTEST_SKIP() << "no cubin for " << a->arch << " (nvJitLink absent?): " << a->notes;
    EXPECT_EQ(run_fill(*dev, *a), std::vector<float>(1000, 3.25f));
}

TEST(CudaGpu, PtxIsCompiledByTheDriverWithoutNvJitLink) {
    KCACHE_TEST_DEVICE(dev, DeviceKind::cuda());
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("gpu_ptx"));
    auto a = compiler.compile(Function::named("fill"), tt_of<float*, float, I32>(), dev->target());
    ASSERT_FALSE(a->ptx.empty());
    Artifact ptx_only = *a; // what a machine without nvJitLink produces
    ptx_only.format = "ptx";
    ptx_only.bytes.assign(a->ptx.begin(), a->ptx.end());
    EXPECT_EQ(run_fill(*dev, ptx_only), std::vector<float>(1000, 3.25f));
}

// `oob(out::Ptr{Float32})`: a volatile store 1 TiB past `out`, far outside any allocation.
kernels::GeneratorFn out_of_bounds_store() {
    return [](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        llvm::Value* p =
            b.CreateGEP(b.getInt8Ty(), g.function().getArg(0), b.getInt64(std::int64_t(1) << 40));
        b.CreateStore(llvm::ConstantFP::get(b.getFloatTy(), 1.0), p, /*isVolatile=*/true);
        b.CreateRetVoid();
    };
}

// In a child process: a faulting kernel makes the device unusable, the error names the driver's
// error, later calls fail at once with the same reason, the host device goes on working, and
// every destructor (the runtime's, buffers', the device's at exit) runs without terminating.
void fault_then_check(const std::shared_ptr<runtime::Device>& dev) {
    auto fail = [](const std::string& why) {
        std::fprintf(stderr, "FAILED: %s\n", why.c_str());
        std::exit(1);
    };
    {
        RedefinableKernel k;
        Function& oob = Function::define(unique("oob"));
        kernels::add_generator(k.table, oob, Signature({Ptr(Float32())}), out_of_bounds_store());
        kernels::KernelCompiler compiler(k.table, unique("gpu_fault"));
        auto host = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
        runtime::Runtime rt(compiler, {dev, host});
        DeviceBuffer<float> out(*dev, 16);
        rt.launch(*dev, k.user, {1, 16}, out, I32(16)); // a module that the eviction below retires
        rt.launch(*dev, oob, {1, 1}, out);
        std::string first;
        try {
            dev->synchronize();
            fail("no error after a faulting kernel");
        } catch (const runtime::DeviceUnusableError& e) {
            first = e.what();
        }
        if (first.find("CUDA_ERROR_ILLEGAL_ADDRESS") == std::string::npos &&
            first.find("CUDA_ERROR_LAUNCH_FAILED") == std::string::npos)
            fail("the error does not name the fault: " + first);
        if (!gpu(*dev).unusable())
            fail("the device is not marked unusable");
        try {
            rt.launch(*dev, k.user, {1, 16}, out, I32(16));
            fail("a launch after the fault went through");
        } catch (const runtime::DeviceUnusableError& e) {
            if (e.what() != first)
                fail(std::string("another reason later: ") + e.what());
        }
        try {
            DeviceBuffer<float> more(*dev, 4);
            fail("an allocation after the fault went through");
        } catch (const runtime::DeviceUnusableError&) {
        }
        k.redefine(2.0f);
        DeviceBuffer<float> hout(*host, 16);
        rt.launch(*host, k.user, {1, 16}, hout, I32(16));
        if (hout.to_vector()[3] != 5.0f)
            fail("the host device does not work after the GPU fault");
    }
    std::exit(0);
}

// CUDA only: on a GPU memory fault, ROCm's runtime aborts the process itself by default.
TEST(CudaGpu, AFaultingKernelMakesTheDeviceUnusableAndNothingElse) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    KCACHE_TEST_DEVICE(dev, DeviceKind::cuda());
    // Logged once, at error level, naming the device and the driver's error.
    EXPECT_EXIT(fault_then_check(dev), ::testing::ExitedWithCode(0), "is unusable: ");
}

} // namespace
} // namespace kcache::test
