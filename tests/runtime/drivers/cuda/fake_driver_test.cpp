// The GPU device's error paths and its stream-ordered unloading, against the fake CUDA driver
// (fake_cuda.hpp), so that they run on every machine, GPU or not: a driver that finds no device
// or fails to initialise, GPUs this LLVM cannot target, launch shapes checked before launching,
// dynamic shared memory opt-in, another library's context, a rejected cubin, a faulting kernel,
// a deinitialised driver, failing events, and unloads that must wait for work still queued.
#include "allocation_counter.hpp"
#include "fake_cuda.hpp"
#include "test_support.hpp"

#include "core/log.hpp"
#include "kernels/library/library.hpp"
#include "runtime/errors.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

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

// The redefinable kernel, launched on `dev` (a fake GPU) into `out` through a runtime over `dev`
// (and `other`).
struct Scene : RedefinableKernel {
    kernels::KernelCompiler compiler{table, unique("fake")};
    std::shared_ptr<runtime::Device> dev;
    runtime::Runtime rt;
    DeviceBuffer<float> out;

    explicit Scene(std::shared_ptr<runtime::Device> gpu,
                   std::shared_ptr<runtime::Device> other = nullptr)
        : dev(gpu), rt(compiler, other ? std::vector{gpu, other} : std::vector{gpu}),
          out(*gpu, 64) {}
    void launch(const LaunchConfig& c = {2, 32}) { rt.launch(*dev, user, c, out, I32(64)); }
    runtime::GpuDevice& gpu() const { return dynamic_cast<runtime::GpuDevice&>(*dev); }
};

// A cubin with the kernel's name in its string table, and the PTX it was made from.
Artifact cubin_artifact(const std::string& kernel) {
    Artifact a;
    a.kind = TargetKind::nvptx();
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
        auto found = runtime::DeviceRegistry::discover(DeviceKind::cuda());
        if (found.devices.empty())
            throw std::runtime_error("the fake driver shows no device");
        return found.devices.front();
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
    EXPECT_EQ(dev->kind(), DeviceKind::cuda());
    EXPECT_EQ(dev->name(), "cuda:0 kcache fake CUDA device 0 (sm_90)");
    EXPECT_EQ(dev->target().kind, TargetKind::nvptx());
    EXPECT_EQ(dev->target().arch, "sm_90");
}

TEST_F(FakeDriver, NoDeviceAtInitIsAnEmptyListNotAnError) {
    ctl_->init_result = kCudaErrorNoDevice;
    runtime::DeviceDiscovery found = runtime::DeviceRegistry::discover(DeviceKind::cuda());
    EXPECT_TRUE(found.devices.empty());
    EXPECT_TRUE(found.unusable.empty());
    std::vector<runtime::UnusableDevice> unusable;
    auto devices = runtime::enumerate_devices(&unusable);
    EXPECT_EQ(devices.front()->kind(), DeviceKind::host());
    for (auto& d : devices)
        EXPECT_NE(d->kind(), DeviceKind::cuda());
    for (auto& u : unusable)
        EXPECT_NE(u.kind, DeviceKind::cuda()) << u.reason;
    ctl_->init_result = 0; // initialisation is tried again
    EXPECT_EQ(runtime::DeviceRegistry::discover(DeviceKind::cuda()).devices.size(), 1u);
}

TEST_F(FakeDriver, AFailingInitIsAnErrorNamingTheDriverAndTheRestWorks) {
    ctl_->init_result = kCudaErrorInvalidDevice;
    try {
        runtime::DeviceRegistry::discover(DeviceKind::cuda());
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
    EXPECT_EQ(devices.front()->kind(), DeviceKind::host());
    ASSERT_EQ(std::count_if(unusable.begin(), unusable.end(),
                            [](auto& u) { return u.kind == DeviceKind::cuda(); }),
              1);
    EXPECT_EQ(unusable.front().ordinal, -1);
    EXPECT_EQ(logged("warning", "CUDA_ERROR_INVALID_DEVICE"), 1);
}

TEST_F(FakeDriver, GpusThisLlvmCannotTargetAreListedUnusableAndTheRestWork) {
    ctl_->device_count = 3;
    ctl_->cc_major[1] = 10; // sm_100 (B200)
    ctl_->cc_major[2] = 12; // sm_120 (RTX 50)
    runtime::DeviceDiscovery found = runtime::DeviceRegistry::discover(DeviceKind::cuda());
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
    Scene s(device());
    s.launch();
    s.launch();
    EXPECT_EQ(ctl_->launches, 2);
    EXPECT_EQ(ctl_->module_loads, 1);
    EXPECT_EQ(ctl_->last_jit_options, 4); // error and info log buffers and their sizes
    s.redefine(2.0f);
    s.gpu().wait_for_unloads();
    EXPECT_EQ(ctl_->event_flags, kEventFlags); // the reaper sleeps, and no timing is recorded
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(s.gpu().unloaded_modules(), 1u);
    EXPECT_EQ(s.gpu().loaded_modules(), 0u);
    EXPECT_EQ(ctl_->live_modules, 0);
}

TEST_F(FakeDriver, LaunchShapesAreCheckedAgainstTheDeviceAndTheKernelBeforeLaunching) {
    Scene s(device());
    ctl_->function_max_threads = 256; // register pressure, queried when the module loads
    s.launch({1, 256});
    ctl_->function_max_threads = 1024; // not asked again: the kernel's limit was queried once
    auto rejected = [&](const LaunchConfig& c, const char* expect) {
        try {
            s.launch(c);
            ADD_FAILURE() << "launched: " << expect;
        } catch (const runtime::LaunchError& e) {
            EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(s.user.name()), std::string::npos) << e.what();
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
    Scene s(device());
    auto stream = s.dev->create_stream();
    s.launch();                                 // compile and load
    s.launch({2, 32, 80 * 1024, stream.get()}); // opt in
    const std::size_t before = thread_allocations();
    for (int i = 0; i < 100; ++i) {
        s.launch();
        s.launch({2, 32, 80 * 1024, stream.get()});
    }
    EXPECT_EQ(thread_allocations() - before, 0u);
    EXPECT_EQ(ctl_->launches, 202);
    EXPECT_EQ(s.rt.stats().hits, 201u);
}

// The same through a kernel handle; a redefinition then retires its module on the GPU too.
TEST_F(FakeDriver, ALaunchThroughAHandleDoesNotAllocateAndRedefinitionReloads) {
    Scene s(device());
    auto stream = s.dev->create_stream();
    const auto user = s.rt.kernel<float*, I32>(*s.dev, s.user);
    EXPECT_EQ(ctl_->module_loads, 1); // loaded when the handle was made
    user({2, 32}, s.out, 64);
    user({2, 32, 80 * 1024, stream.get()}, s.out, 64); // opt in
    const std::size_t before = thread_allocations();
    for (int i = 0; i < 100; ++i) {
        user({2, 32}, s.out, 64);
        user({2, 32, 80 * 1024, stream.get()}, s.out, 64);
    }
    EXPECT_EQ(thread_allocations() - before, 0u);
    EXPECT_EQ(ctl_->launches, 202);
    EXPECT_EQ(s.rt.stats().hits, 202u);

    s.redefine(2.0f);
    user({2, 32}, s.out, 64);
    s.gpu().wait_for_unloads();
    EXPECT_EQ(ctl_->module_loads, 2);
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
    EXPECT_EQ(s.rt.stats().misses, 1u);
}

TEST_F(FakeDriver, AStreamOrModuleOfAnotherDeviceIsAClearError) {
    ctl_->device_count = 2;
    auto found = runtime::DeviceRegistry::discover(DeviceKind::cuda());
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
    Scene s(device());
    s.launch({1, 64, 48 * 1024});
    EXPECT_EQ(ctl_->dynamic_shared_opt_ins, 0);
    s.launch({1, 64, 100 * 1024});
    s.launch({1, 64, 100 * 1024});
    s.launch({1, 64, 64 * 1024});
    EXPECT_EQ(ctl_->dynamic_shared_opt_ins, 1);
    EXPECT_EQ(ctl_->last_launch_shared, 64 * 1024);
    s.launch({1, 64, 227 * 1024}); // an H200's most
    EXPECT_EQ(ctl_->dynamic_shared_opt_ins, 2);
    EXPECT_EQ(ctl_->launches, 5);
}

TEST_F(FakeDriver, AnotherLibrarysContextIsPutBackAndNeverUsed) {
    ctl_->make_foreign_context_current(); // what another library on this thread may do
    Scene s(device());
    s.out.upload(std::vector<float>(64, 1.0f));
    EXPECT_TRUE(ctl_->foreign_context_is_current());
    s.launch();
    EXPECT_TRUE(ctl_->foreign_context_is_current());
    auto stream = s.dev->create_stream();
    s.launch({2, 32, 0, stream.get()});
    stream->synchronize();
    EXPECT_EQ(s.out.to_vector(), std::vector<float>(64, 1.0f)); // fake kernels compute nothing
    stream.reset();
    s.redefine(3.0f);
    s.gpu().wait_for_unloads();
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
    auto dev = device();
    auto host = host_device();
    {
        Scene s(dev, host);
        auto stream = dev->create_stream();
        s.launch();
        ctl_->fault_next_launch = kCudaErrorIllegalAddress;
        s.launch({2, 32, 0, stream.get()}); // enqueued, then the kernel faults
        std::string first;
        try {
            s.out.to_vector();
            ADD_FAILURE() << "no error after the fault";
        } catch (const runtime::DeviceUnusableError& e) {
            first = e.what();
        }
        EXPECT_NE(first.find("CUDA_ERROR_ILLEGAL_ADDRESS"), std::string::npos) << first;
        EXPECT_NE(first.find("cuda:0 kcache fake CUDA device 0 (sm_90) is unusable"),
                  std::string::npos)
            << first;
        EXPECT_TRUE(s.gpu().unusable());

        // Later calls fail at once with the same reason, without asking the driver.
        const int calls = ctl_->calls_after_fault;
        try {
            s.launch();
            ADD_FAILURE() << "launched after the fault";
        } catch (const runtime::DeviceUnusableError& e) {
            EXPECT_EQ(e.what(), first);
        }
        EXPECT_THROW(dev->create_stream(), runtime::DeviceUnusableError);
        EXPECT_THROW(DeviceBuffer<float>(*dev, 4), runtime::DeviceUnusableError);
        EXPECT_THROW(dev->synchronize(), runtime::DeviceUnusableError);
        EXPECT_EQ(ctl_->calls_after_fault, calls);
        EXPECT_EQ(ctl_->launches, 2);

        // The host device is untouched, and an eviction of the lost module does not throw.
        DeviceBuffer<float> hout(*host, 8);
        s.rt.launch(*host, s.user, {1, 8}, hout, I32(8));
        EXPECT_EQ(hout.to_vector()[3], 4.0f);
        s.redefine(5.0f);
        s.gpu().wait_for_unloads();
    }                                   // the runtime, buffers and stream go without throwing
    EXPECT_EQ(ctl_->module_unloads, 0); // nothing to unload in a lost context
    EXPECT_EQ(logged("error", "is unusable"), 1);
    EXPECT_EQ(logged("error"), 1);
}

TEST_F(FakeDriver, ADeinitialisedDriverLeavesNothingToDo) {
    auto dev = device();
    {
        Scene s(dev);
        auto stream = dev->create_stream();
        s.launch({2, 32, 0, stream.get()});
        ctl_->deinitialize(); // as at process exit, before kcache's statics are destroyed
        try {
            dev->synchronize();
            ADD_FAILURE() << "no error";
        } catch (const runtime::RuntimeError& e) {
            EXPECT_NE(std::string(e.what()).find("deinitialised"), std::string::npos) << e.what();
        }
        s.redefine(2.0f); // an eviction: nothing left to unload
        s.gpu().wait_for_unloads();
    }
    dev.reset();
    EXPECT_EQ(ctl_->module_unloads, 0);
    EXPECT_EQ(logged("error"), 0);
}

// In a child process: a device, a runtime with a loaded module, a buffer and a stream live in
// statics; at exit the driver is deinitialised first (registered last), then they are destroyed.
void exit_with_statics_after_deinitialisation() {
    static Scene s(runtime::DeviceRegistry::discover(DeviceKind::cuda()).devices.at(0));
    static auto stream = s.dev->create_stream();
    s.launch({2, 32, 0, stream.get()});
    std::atexit([] { fake()->deinitialize(); });
    std::exit(0);
}

TEST_F(FakeDriver, DeinitialisedAtProcessExitBeforeTheStatics) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(exit_with_statics_after_deinitialisation(), ::testing::ExitedWithCode(0), "");
}

TEST_F(FakeDriver, UnloadWaitsForTheWorkQueuedOnEveryStream) {
    Scene s(device());
    auto s1 = s.dev->create_stream(), s2 = s.dev->create_stream();
    HoldWork hold;
    s.launch();
    s.launch({2, 32, 0, s1.get()});
    s.launch({2, 32, 0, s2.get()});
    s.redefine(2.0f); // retired: the runtime no longer hands it out
    EXPECT_EQ(s.rt.loaded_modules(*s.dev), 0u);
    ASSERT_TRUE(eventually([] { return fake()->blocked_waiters.load() >= 1; }));
    EXPECT_EQ(ctl_->module_unloads, 0); // the work is still queued: still loaded
    EXPECT_EQ(s.gpu().loaded_modules(), 1u);
    ctl_->release();
    s.gpu().wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
}

TEST_F(FakeDriver, AStreamDestroyedWithWorkQueuedHoldsOffTheUnload) {
    Scene s(device());
    auto s1 = s.dev->create_stream();
    HoldWork hold;
    s.launch({2, 32, 0, s1.get()});
    s1.reset(); // returns at once; the work stays queued
    EXPECT_EQ(ctl_->blocked_waiters, 0);
    s.redefine(2.0f);
    ASSERT_TRUE(eventually([] { return fake()->blocked_waiters.load() >= 1; }));
    EXPECT_EQ(ctl_->module_unloads, 0);
    ctl_->release();
    s.gpu().wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
}

class FakeDriverEvents : public FakeDriver, public ::testing::WithParamInterface<bool> {};

// Without events (creating or recording them fails), the unload waits for the whole device, and
// destroying a stream waits for its work.
TEST_P(FakeDriverEvents, FailingEventsFallBackToSynchronising) {
    Scene s(device());
    auto s1 = s.dev->create_stream(), s2 = s.dev->create_stream();
    HoldWork hold;
    s.launch({2, 32, 0, s1.get()});
    (GetParam() ? ctl_->fail_event_create : ctl_->fail_event_record) = true;
    s.redefine(2.0f);
    ASSERT_TRUE(eventually([] {
        return fake()->blocked_waiters.load() >= 1 && fake()->context_synchronizes.load() >= 1;
    }));
    EXPECT_EQ(ctl_->module_unloads, 0);
    ctl_->release();
    s.gpu().wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 1);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);

    s.launch({2, 32, 0, s2.get()});
    std::thread destroyer([&] { s2.reset(); }); // waits for the stream's work
    EXPECT_TRUE(eventually([] { return fake()->blocked_waiters.load() >= 1; }));
    EXPECT_EQ(ctl_->module_unloads, 1);
    ctl_->release();
    destroyer.join();
    s.redefine(3.0f);
    s.gpu().wait_for_unloads();
    EXPECT_EQ(ctl_->module_unloads, 2);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
}

INSTANTIATE_TEST_SUITE_P(CreateOrRecord, FakeDriverEvents, ::testing::Bool(), [](const auto& info) {
    return std::string(info.param ? "EventCreate" : "EventRecord");
});

// Launches from several threads on their own streams (half through one kernel handle) while the
// callee is redefined: every module is unloaded, and none while work that uses it is queued.
TEST_F(FakeDriver, ConcurrentLaunchesAndRedefinitionsNeverUnloadUnderWork) {
    Scene s(device());
    const auto user = s.rt.kernel<float*, I32>(*s.dev, s.user);
    HoldWork hold;
    constexpr int kThreads = 4, kRedefinitions = 5;
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            try {
                auto stream = s.dev->create_stream();
                DeviceBuffer<float> out(*s.dev, 64);
                while (!stop.load())
                    if (t % 2)
                        user({2, 32, 0, stream.get()}, out, I32(64));
                    else
                        s.rt.launch(*s.dev, s.user, {2, 32, 0, stream.get()}, out, I32(64));
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
        s.redefine(float(d + 2));
    }
    stop = true;
    for (auto& t : threads)
        t.join();
    ctl_->release();
    s.gpu().wait_for_unloads();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(ctl_->unsafe_unloads, 0);
    EXPECT_GE(ctl_->module_unloads, kRedefinitions);
    EXPECT_EQ(ctl_->module_loads - ctl_->module_unloads, ctl_->live_modules.load());
    EXPECT_EQ(std::size_t(ctl_->live_modules), s.rt.loaded_modules(*s.dev));
    EXPECT_EQ(s.gpu().loaded_modules(), s.rt.loaded_modules(*s.dev));
}

} // namespace
} // namespace kcache::test
