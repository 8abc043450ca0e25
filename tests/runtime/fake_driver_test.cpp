// The GPU device's error paths and its stream-ordered unloading, against the fake CUDA driver
// (fake_cuda.hpp), so that they run on every machine, GPU or not: a driver that finds no device
// or fails to initialise, GPUs this LLVM cannot target, launch shapes checked before launching,
// dynamic shared memory opt-in, another library's context, a rejected cubin, a faulting kernel,
// a deinitialised driver, failing events, and unloads that must wait for work still queued.
#include "fake_cuda.hpp"
#include "test_support.hpp"

#include "core/log.hpp"
#include "kernels/library.hpp"
#include "runtime/errors.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <thread>

// Allocations on this thread, counted by replacing the global operator new in this program.
namespace {
thread_local std::size_t allocations = 0;
}
void* operator new(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n ? n : 1))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace kcache::test {
namespace {

using runtime::DeviceBuffer;
using runtime::DeviceKind;
using runtime::Dim3;
using runtime::LaunchConfig;
using I32 = std::int32_t;
using namespace types;

#ifdef KCACHE_FAKE_CUDA_PATH
constexpr const char* kFakePath = KCACHE_FAKE_CUDA_PATH;
#else
constexpr const char* kFakePath = nullptr;
#endif

// cuda.h's status codes that the tests inject (the tests build without cuda.h).
constexpr int kCudaErrorNoDevice = 100;       // CUDA_ERROR_NO_DEVICE
constexpr int kCudaErrorInvalidDevice = 101;  // CUDA_ERROR_INVALID_DEVICE
constexpr int kCudaErrorIllegalAddress = 700; // CUDA_ERROR_ILLEGAL_ADDRESS
constexpr int kEventFlags = 0x1 | 0x2;        // CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING

// The fake's control panel; makes kcache load the fake (before anything loads a CUDA driver).
FakeCudaControl* fake() {
    static FakeCudaControl* control = []() -> FakeCudaControl* {
        setenv("KCACHE_CUDA_DRIVER", kFakePath, 1);
        void* h = dlopen(kFakePath, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            return nullptr;
        auto get = reinterpret_cast<FakeCudaControl* (*)()>(dlsym(h, "kcache_fake_cuda_control"));
        return get ? get() : nullptr;
    }();
    return control;
}

// Waits (on the fake's condition variable) until `predicate` holds; false after 30 s.
bool eventually(bool (*predicate)()) {
    return fake()->wait_until(predicate, 30);
}

// Launched work stays queued while this lives. Declared after the runtime, buffers and streams,
// it releases the work before they go, even when an assertion ends the test early.
struct HoldWork {
    HoldWork() { fake()->hold = true; }
    ~HoldWork() {
        fake()->hold = false;
        fake()->release();
    }
};

// A kernel `user(out::Ptr{Float32}, n::Int32)` calling `helper(x::Float32)` in a table of its own,
// so that redefining the helper evicts the kernel's module.
struct Kernels {
    MethodTable& table = MethodTable::create_root(unique("fake_table"));
    Function& helper = Function::define(unique("helper"));
    Function& user = Function::define(unique("user"));
    Kernels() {
        redefine(1.0f);
        kernels::add_generator(table, user, Signature({Ptr(Float32()), Int32()}),
                               store_callee(helper));
    }
    void redefine(float c) {
        kernels::add_generator(table, helper, Signature({Float32()}), add_const(c), Float32());
    }
};

// A cubin with the kernel's name in its string table, and the PTX it was made from.
Artifact cubin_artifact(const std::string& kernel) {
    Artifact a;
    a.kind = TargetKind::Nvptx;
    a.arch = "sm_90";
    a.kernel_symbol = kernel;
    a.format = "cubin";
    a.bytes.assign(128, 0);
    std::memcpy(a.bytes.data(),
                "\x7f"
                "ELF\x02\x01\x01",
                7);
    const std::uint64_t shoff = 64;
    const std::uint16_t shentsize = 64, shnum = 1;
    std::memcpy(a.bytes.data() + 0x28, &shoff, 8);
    std::memcpy(a.bytes.data() + 0x3a, &shentsize, 2);
    std::memcpy(a.bytes.data() + 0x3c, &shnum, 2);
    std::memcpy(a.bytes.data() + 64, kernel.c_str(), kernel.size());
    a.ptx = ".version 8.5\n.target sm_90\n.address_size 64\n.visible .entry " + kernel +
            "()\n{\n\tret;\n}\n";
    return a;
}

class FakeDriver : public ::testing::Test {
protected:
    void SetUp() override {
        if (!kFakePath)
            GTEST_SKIP() << "the CUDA backend is compiled out (cuda.h was not found at build "
                            "time), and the fake driver with it";
        ctl_ = fake();
        ASSERT_NE(ctl_, nullptr) << "cannot load " << kFakePath << ": " << dlerror();
        ctl_->reset();
        ASSERT_EQ(std::string(runtime::detail::cuda_api().library), kFakePath)
            << "kcache loaded another CUDA driver than the fake";
        sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
        sink_->set_pattern("[%l] %v");
        log().sinks().push_back(sink_);
    }
    void TearDown() override {
        if (sink_)
            std::erase(log().sinks(), sink_);
    }

    std::shared_ptr<runtime::Device> device() {
        auto found = runtime::discover_gpus(DeviceKind::Cuda);
        if (found.devices.empty())
            throw std::runtime_error("the fake driver shows no device");
        return found.devices.front();
    }
    static runtime::GpuDevice& gpu(runtime::Device& d) {
        return dynamic_cast<runtime::GpuDevice&>(d);
    }
    // How many lines kcache logged at `level` ("error", "warning") that contain `text`.
    int logged(const std::string& level, const std::string& text = "") {
        sink_->flush();
        std::istringstream lines(log_.str());
        int n = 0;
        for (std::string line; std::getline(lines, line);)
            n += line.rfind("[" + level + "]", 0) == 0 && line.find(text) != std::string::npos;
        return n;
    }

    FakeCudaControl* ctl_ = nullptr;
    std::ostringstream log_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

TEST_F(FakeDriver, DiscoveryFindsTheFakeDeviceAsAnH200) {
    auto dev = device();
    EXPECT_EQ(dev->kind(), DeviceKind::Cuda);
    EXPECT_EQ(dev->name(), "cuda:0 kcache fake CUDA device 0 (sm_90)");
    EXPECT_EQ(dev->target().kind, TargetKind::Nvptx);
    EXPECT_EQ(dev->target().arch, "sm_90");
}

TEST_F(FakeDriver, NoDeviceAtInitIsAnEmptyListNotAnError) {
    ctl_->init_result = kCudaErrorNoDevice;
    runtime::GpuDiscovery found = runtime::discover_gpus(DeviceKind::Cuda);
    EXPECT_TRUE(found.devices.empty());
    EXPECT_TRUE(found.unusable.empty());
    std::vector<runtime::UnusableDevice> unusable;
    auto devices = runtime::enumerate_devices(&unusable);
    EXPECT_EQ(devices.front()->kind(), DeviceKind::Host);
    for (auto& d : devices)
        EXPECT_NE(d->kind(), DeviceKind::Cuda);
    for (auto& u : unusable)
        EXPECT_NE(u.kind, DeviceKind::Cuda) << u.reason;
    ctl_->init_result = 0; // initialisation is tried again
    EXPECT_EQ(runtime::discover_gpus(DeviceKind::Cuda).devices.size(), 1u);
}

TEST_F(FakeDriver, AFailingInitIsAnErrorNamingTheDriverAndTheRestWorks) {
    ctl_->init_result = kCudaErrorInvalidDevice;
    try {
        runtime::discover_gpus(DeviceKind::Cuda);
        ADD_FAILURE() << "no error";
    } catch (const runtime::DriverUnavailableError& e) {
        ADD_FAILURE() << "a present driver that fails is not an absent one: " << e.what();
    } catch (const runtime::RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find("CUDA_ERROR_INVALID_DEVICE"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(kFakePath), std::string::npos) << e.what();
    }
    std::vector<runtime::UnusableDevice> unusable;
    auto devices = runtime::enumerate_devices(&unusable);
    ASSERT_FALSE(devices.empty());
    EXPECT_EQ(devices.front()->kind(), DeviceKind::Host);
    ASSERT_EQ(std::count_if(unusable.begin(), unusable.end(),
                            [](auto& u) { return u.kind == DeviceKind::Cuda; }),
              1);
    EXPECT_EQ(unusable.front().ordinal, -1);
    EXPECT_EQ(logged("warning", "CUDA_ERROR_INVALID_DEVICE"), 1);
}

TEST_F(FakeDriver, GpusThisLlvmCannotTargetAreListedUnusableAndTheRestWork) {
    ctl_->device_count = 3;
    ctl_->cc_major[1] = 10; // sm_100 (B200)
    ctl_->cc_major[2] = 12; // sm_120 (RTX 50)
    runtime::GpuDiscovery found = runtime::discover_gpus(DeviceKind::Cuda);
    ASSERT_EQ(found.devices.size(), 1u);
    EXPECT_EQ(found.devices.front()->target().arch, "sm_90");
    ASSERT_EQ(found.unusable.size(), 2u);
    EXPECT_EQ(found.unusable[0].ordinal, 1);
    EXPECT_NE(found.unusable[0].reason.find("sm_100"), std::string::npos)
        << found.unusable[0].reason;
    EXPECT_NE(found.unusable[0].reason.find("not supported by this build"), std::string::npos)
        << found.unusable[0].reason;
    EXPECT_NE(found.unusable[1].reason.find("sm_120"), std::string::npos)
        << found.unusable[1].reason;

    // The runtime over every device present works on the host and on the usable GPU.
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("fake_enumerate"));
    runtime::Runtime rt(compiler);
    ASSERT_EQ(rt.devices().size(), 2u); // host, cuda:0 (no HIP device here)
    auto& gpu_dev = *rt.devices()[1];
    DeviceBuffer<float> out(gpu_dev, 8);
    rt.launch(gpu_dev, Function::named("fill"), {1, 8}, out, 1.0f, I32(8));
    EXPECT_EQ(ctl_->launches, 1);
    DeviceBuffer<float> hout(rt.device(0), 8);
    rt.launch(rt.device(0), Function::named("fill"), {1, 8}, hout, 2.0f, I32(8));
    EXPECT_EQ(hout.to_vector(), std::vector<float>(8, 2.0f));
}

TEST_F(FakeDriver, LoadsPassJitLogsAndUnloadsWaitOnQuietEvents) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_basic"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    rt.launch(*dev, k.user, {2, 32}, out, I32(64));
    rt.launch(*dev, k.user, {2, 32}, out, I32(64));
    EXPECT_EQ(ctl_->launches, 2);
    EXPECT_EQ(ctl_->module_loads, 1);
    EXPECT_EQ(ctl_->last_jit_options, 4); // error and info log buffers and their sizes
    k.redefine(2.0f);
    gpu(*dev).wait_for_unloads();
    EXPECT_EQ(ctl_->event_flags, kEventFlags); // the reaper sleeps, and no timing is recorded
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(gpu(*dev).unloaded_modules(), 1u);
    EXPECT_EQ(gpu(*dev).loaded_modules(), 0u);
    EXPECT_EQ(ctl_->live_modules, 0);
}

TEST_F(FakeDriver, LaunchShapesAreCheckedAgainstTheDeviceAndTheKernelBeforeLaunching) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_shapes"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    ctl_->function_max_threads = 256; // register pressure, queried when the module loads
    rt.launch(*dev, k.user, {1, 256}, out, I32(64));
    ctl_->function_max_threads = 1024; // not asked again: the kernel's limit was queried once
    auto rejected = [&](const LaunchConfig& c, const char* expect) {
        try {
            rt.launch(*dev, k.user, c, out, I32(64));
            ADD_FAILURE() << "launched: " << expect;
        } catch (const runtime::LaunchError& e) {
            EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(k.user.name()), std::string::npos) << e.what();
        }
    };
    rejected({Dim3{1}, Dim3{512}}, "exceed the kernel's limit of 256 (its register use)");
    rejected({Dim3{1}, Dim3{32, 32, 2}}, "2048 threads per block exceed");
    rejected({Dim3{0}, Dim3{32}}, "empty grid or block");
    rejected({Dim3{4, 0}, Dim3{32}}, "empty grid or block");
    rejected({Dim3{1}, Dim3{1, 1, 65}}, "block dimension z = 65 exceeds the device's limit of 64");
    rejected({Dim3{1}, Dim3{1025}}, "block dimension x = 1025");
    rejected({Dim3{1, 65536}, Dim3{32}}, "grid dimension y = 65536 exceeds");
    rejected({Dim3{1}, Dim3{32}, 228 * 1024}, "exceed the device's limit of 232448 bytes");
    EXPECT_EQ(ctl_->launches, 1); // none of them reached the driver
}

TEST_F(FakeDriver, ALaunchThatHitsDoesNotAllocate) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_hot"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    auto stream = dev->create_stream();
    rt.launch(*dev, k.user, {2, 32}, out, I32(64));                          // compile and load
    rt.launch(*dev, k.user, {2, 32, 80 * 1024, stream.get()}, out, I32(64)); // opt in
    const std::size_t before = allocations;
    for (int i = 0; i < 100; ++i) {
        rt.launch(*dev, k.user, {2, 32}, out, I32(64));
        rt.launch(*dev, k.user, {2, 32, 80 * 1024, stream.get()}, out, I32(64));
    }
    EXPECT_EQ(allocations - before, 0u);
    EXPECT_EQ(ctl_->launches, 202);
    EXPECT_EQ(rt.stats().hits, 201u);
}

TEST_F(FakeDriver, AStreamOrModuleOfAnotherDeviceIsAClearError) {
    ctl_->device_count = 2;
    auto found = runtime::discover_gpus(DeviceKind::Cuda);
    ASSERT_EQ(found.devices.size(), 2u);
    auto& d0 = *found.devices[0];
    auto& d1 = *found.devices[1];
    auto other_stream = d1.create_stream();
    DeviceBuffer<float> buffer(d0, 8);
    std::vector<float> host(8);
    EXPECT_THROW(d0.copy_to_host(host.data(), buffer.data(), 32, other_stream.get()),
                 InvalidArgumentError);
    auto module = d0.load(cubin_artifact("k_other"));
    auto other_module = d1.load(cubin_artifact("k_other"));
    EXPECT_THROW(d0.launch(*module, {1, 1, 0, other_stream.get()}, {}, {}), runtime::LaunchError);
    EXPECT_THROW(d0.launch(*other_module, {1, 1}, {}, {}), runtime::LaunchError);
    d0.launch(*module, {1, 1}, {}, {});
    EXPECT_EQ(ctl_->launches, 1);
}

TEST_F(FakeDriver, DynamicSharedMemoryPast48KiBIsOptedInOnce) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_shared"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    rt.launch(*dev, k.user, {1, 64, 48 * 1024}, out, I32(64));
    EXPECT_EQ(ctl_->dynamic_shared_opt_ins, 0);
    rt.launch(*dev, k.user, {1, 64, 100 * 1024}, out, I32(64));
    rt.launch(*dev, k.user, {1, 64, 100 * 1024}, out, I32(64));
    rt.launch(*dev, k.user, {1, 64, 64 * 1024}, out, I32(64));
    EXPECT_EQ(ctl_->dynamic_shared_opt_ins, 1);
    EXPECT_EQ(ctl_->last_launch_shared, 64 * 1024);
    rt.launch(*dev, k.user, {1, 64, 227 * 1024}, out, I32(64)); // an H200's most
    EXPECT_EQ(ctl_->dynamic_shared_opt_ins, 2);
    EXPECT_EQ(ctl_->launches, 5);
}

TEST_F(FakeDriver, AnotherLibrarysContextIsPutBackAndNeverUsed) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_context"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    ctl_->make_foreign_context_current(); // what another library on this thread may do
    DeviceBuffer<float> out(*dev, std::vector<float>(64, 1.0f));
    EXPECT_TRUE(ctl_->foreign_context_is_current());
    rt.launch(*dev, k.user, {2, 32}, out, I32(64));
    EXPECT_TRUE(ctl_->foreign_context_is_current());
    auto stream = dev->create_stream();
    rt.launch(*dev, k.user, {2, 32, 0, stream.get()}, out, I32(64));
    stream->synchronize();
    EXPECT_EQ(out.to_vector(), std::vector<float>(64, 1.0f)); // the fake's kernels compute nothing
    stream.reset();
    k.redefine(3.0f);
    gpu(*dev).wait_for_unloads();
    EXPECT_TRUE(ctl_->foreign_context_is_current());
    EXPECT_EQ(ctl_->foreign_context_calls, 0);
    EXPECT_EQ(ctl_->launches, 2);
    EXPECT_EQ(ctl_->module_unloads, 1);
}

TEST_F(FakeDriver, ARejectedCubinIsRetriedFromItsPtxAndSaidOnce) {
    auto dev = device();
    ctl_->reject_cubin = true;
    auto m1 = dev->load(cubin_artifact("k_one"));
    auto m2 = dev->load(cubin_artifact("k_two"));
    EXPECT_EQ(ctl_->module_loads, 2);
    EXPECT_EQ(logged("warning", "rejected the cubin"), 1);
    EXPECT_EQ(logged("warning", "injected rejection"), 1); // the JIT's log, in the message
    EXPECT_EQ(logged("warning", "loaded its PTX instead"), 1);

    ctl_->reject_ptx = true;
    try {
        dev->load(cubin_artifact("k_three"));
        ADD_FAILURE() << "loaded";
    } catch (const runtime::RuntimeError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("CUDA_ERROR_INVALID_PTX"), std::string::npos) << what;
        EXPECT_NE(what.find("ptxas fatal"), std::string::npos) << what;
        EXPECT_NE(what.find("CUDA_ERROR_NO_BINARY_FOR_GPU"), std::string::npos) << what;
        EXPECT_NE(what.find("injected rejection"), std::string::npos) << what;
        EXPECT_NE(what.find("k_three"), std::string::npos) << what;
    }
    ctl_->reject_cubin = false;
    Artifact ptx_only = cubin_artifact("k_four");
    ptx_only.format = "ptx";
    ptx_only.bytes.clear();
    EXPECT_THROW(dev->load(ptx_only), runtime::RuntimeError);
    EXPECT_EQ(ctl_->module_loads, 2);
}

TEST_F(FakeDriver, AFaultingKernelMakesTheDeviceUnusableReportedOnceAndFailingFast) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_fault"));
    auto dev = device();
    auto host = host_device();
    {
        runtime::Runtime rt(compiler, {dev, host});
        DeviceBuffer<float> out(*dev, 64);
        auto stream = dev->create_stream();
        rt.launch(*dev, k.user, {2, 32}, out, I32(64));
        ctl_->fault_next_launch = kCudaErrorIllegalAddress;
        rt.launch(*dev, k.user, {2, 32, 0, stream.get()}, out, I32(64)); // enqueued, then faults
        std::string first;
        try {
            out.to_vector();
            ADD_FAILURE() << "no error after the fault";
        } catch (const runtime::DeviceUnusableError& e) {
            first = e.what();
        }
        EXPECT_NE(first.find("CUDA_ERROR_ILLEGAL_ADDRESS"), std::string::npos) << first;
        EXPECT_NE(first.find("cuda:0 kcache fake CUDA device 0 (sm_90) is unusable"),
                  std::string::npos)
            << first;
        EXPECT_TRUE(gpu(*dev).unusable());

        // Later calls fail at once with the same reason, without asking the driver.
        const int calls = ctl_->calls_after_fault;
        EXPECT_THROW(
            {
                try {
                    rt.launch(*dev, k.user, {2, 32}, out, I32(64));
                } catch (const runtime::DeviceUnusableError& e) {
                    EXPECT_EQ(e.what(), first);
                    throw;
                }
            },
            runtime::DeviceUnusableError);
        EXPECT_THROW(dev->create_stream(), runtime::DeviceUnusableError);
        EXPECT_THROW(DeviceBuffer<float>(*dev, 4), runtime::DeviceUnusableError);
        EXPECT_THROW(dev->synchronize(), runtime::DeviceUnusableError);
        EXPECT_EQ(ctl_->calls_after_fault, calls);
        EXPECT_EQ(ctl_->launches, 2);

        // The host device is untouched, and an eviction of the lost module does not throw.
        DeviceBuffer<float> hout(*host, 8);
        rt.launch(*host, k.user, {1, 8}, hout, I32(8));
        EXPECT_EQ(hout.to_vector()[3], 4.0f);
        k.redefine(5.0f);
        gpu(*dev).wait_for_unloads();
    }                                   // the runtime, buffers and stream go without throwing
    EXPECT_EQ(ctl_->module_unloads, 0); // nothing to unload in a lost context
    EXPECT_EQ(logged("error", "is unusable"), 1);
    EXPECT_EQ(logged("error"), 1);
}

TEST_F(FakeDriver, ADeinitialisedDriverLeavesNothingToDo) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_deinit"));
    auto dev = device();
    {
        runtime::Runtime rt(compiler, {dev});
        DeviceBuffer<float> out(*dev, 64);
        auto stream = dev->create_stream();
        rt.launch(*dev, k.user, {2, 32, 0, stream.get()}, out, I32(64));
        ctl_->deinitialize(); // as at process exit, before kcache's statics are destroyed
        try {
            dev->synchronize();
            ADD_FAILURE() << "no error";
        } catch (const runtime::RuntimeError& e) {
            EXPECT_NE(std::string(e.what()).find("deinitialised"), std::string::npos) << e.what();
        }
        k.redefine(2.0f); // an eviction: nothing left to unload
    }
    gpu(*dev).wait_for_unloads();
    dev.reset();
    EXPECT_EQ(ctl_->module_unloads, 0);
    EXPECT_EQ(logged("error"), 0);
}

// In a child process: a device, a runtime with a loaded module, a buffer and a stream live in
// statics; at exit the driver is deinitialised first (registered last), then they are destroyed.
void exit_with_statics_after_deinitialisation() {
    static Kernels k;
    static kernels::KernelCompiler compiler(k.table, unique("fake_exit"));
    static auto dev = runtime::discover_gpus(DeviceKind::Cuda).devices.at(0);
    static runtime::Runtime rt(compiler, {dev});
    static DeviceBuffer<float> out(*dev, 64);
    static auto stream = dev->create_stream();
    rt.launch(*dev, k.user, {2, 32, 0, stream.get()}, out, I32(64));
    std::atexit([] { fake()->deinitialize(); });
    std::exit(0);
}

TEST_F(FakeDriver, DeinitialisedAtProcessExitBeforeTheStatics) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(exit_with_statics_after_deinitialisation(), ::testing::ExitedWithCode(0), "");
}

TEST_F(FakeDriver, UnloadWaitsForTheWorkQueuedOnEveryStream) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_order"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    auto s1 = dev->create_stream(), s2 = dev->create_stream();
    HoldWork hold;
    rt.launch(*dev, k.user, {2, 32}, out, I32(64));
    rt.launch(*dev, k.user, {2, 32, 0, s1.get()}, out, I32(64));
    rt.launch(*dev, k.user, {2, 32, 0, s2.get()}, out, I32(64));
    k.redefine(2.0f); // retired: the runtime no longer hands it out
    EXPECT_EQ(rt.loaded_modules(*dev), 0u);
    ASSERT_TRUE(eventually([] { return fake()->blocked_waiters.load() >= 1; }));
    EXPECT_EQ(ctl_->module_unloads, 0); // the work is still queued: still loaded
    EXPECT_EQ(gpu(*dev).loaded_modules(), 1u);
    ctl_->release();
    gpu(*dev).wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
}

TEST_F(FakeDriver, AStreamDestroyedWithWorkQueuedHoldsOffTheUnload) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_orphan"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    auto s1 = dev->create_stream();
    HoldWork hold;
    rt.launch(*dev, k.user, {2, 32, 0, s1.get()}, out, I32(64));
    s1.reset(); // returns at once; the work stays queued
    EXPECT_EQ(ctl_->blocked_waiters, 0);
    k.redefine(2.0f);
    ASSERT_TRUE(eventually([] { return fake()->blocked_waiters.load() >= 1; }));
    EXPECT_EQ(ctl_->module_unloads, 0);
    ctl_->release();
    gpu(*dev).wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
}

class FakeDriverEvents : public FakeDriver, public ::testing::WithParamInterface<bool> {};

// Without events (creating or recording them fails), the unload waits for the whole device, and
// destroying a stream waits for its work.
TEST_P(FakeDriverEvents, FailingEventsFallBackToSynchronising) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_events"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    DeviceBuffer<float> out(*dev, 64);
    auto s1 = dev->create_stream(), s2 = dev->create_stream();
    HoldWork hold;
    rt.launch(*dev, k.user, {2, 32, 0, s1.get()}, out, I32(64));
    (GetParam() ? ctl_->fail_event_create : ctl_->fail_event_record) = true;
    k.redefine(2.0f);
    ASSERT_TRUE(eventually([] {
        return fake()->blocked_waiters.load() >= 1 && fake()->context_synchronizes.load() >= 1;
    }));
    EXPECT_EQ(ctl_->module_unloads, 0);
    ctl_->release();
    gpu(*dev).wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);

    rt.launch(*dev, k.user, {2, 32, 0, s2.get()}, out, I32(64));
    std::thread destroyer([&] { s2.reset(); }); // waits for the stream's work
    EXPECT_TRUE(eventually([] { return fake()->blocked_waiters.load() >= 1; }));
    EXPECT_EQ(ctl_->module_unloads, 1);
    ctl_->release();
    destroyer.join();
    k.redefine(3.0f);
    gpu(*dev).wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 2);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
}

INSTANTIATE_TEST_SUITE_P(CreateOrRecord, FakeDriverEvents, ::testing::Bool(), [](const auto& info) {
    return std::string(info.param ? "EventCreate" : "EventRecord");
});

// Launches from several threads on their own streams while the callee is redefined: every module
// is unloaded, and none while work that uses it is queued.
TEST_F(FakeDriver, ConcurrentLaunchesAndRedefinitionsNeverUnloadUnderWork) {
    Kernels k;
    kernels::KernelCompiler compiler(k.table, unique("fake_concurrent"));
    auto dev = device();
    runtime::Runtime rt(compiler, {dev});
    HoldWork hold;
    constexpr int kThreads = 4, kRedefinitions = 5;
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            try {
                auto stream = dev->create_stream();
                DeviceBuffer<float> out(*dev, 64);
                while (!stop.load())
                    rt.launch(*dev, k.user, {2, 32, 0, stream.get()}, out, I32(64));
                ctl_->release(); // let this stream's destruction go on
            } catch (const std::exception& e) {
                ADD_FAILURE() << e.what();
                errors.fetch_add(1);
            }
        });
    static std::atomic<int> target{0};
    for (int d = 0; d < kRedefinitions; ++d) {
        target = ctl_->launches + 20;
        if (!eventually([] { return fake()->launches.load() >= target.load(); })) {
            ADD_FAILURE() << "the launching threads stalled";
            break;
        }
        k.redefine(float(d + 2));
    }
    stop = true;
    for (auto& t : threads)
        t.join();
    ctl_->release();
    gpu(*dev).wait_for_unloads();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
    EXPECT_GE(ctl_->module_unloads, kRedefinitions);
    EXPECT_EQ(ctl_->module_loads - ctl_->module_unloads, ctl_->live_modules.load());
    EXPECT_EQ(std::size_t(ctl_->live_modules), rt.loaded_modules(*dev));
    EXPECT_EQ(gpu(*dev).loaded_modules(), rt.loaded_modules(*dev));
}

} // namespace
} // namespace kcache::test
