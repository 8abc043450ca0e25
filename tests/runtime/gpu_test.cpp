// The CUDA and HIP backends where no driver exists: a clear error on first use, nothing crashes
// at load time, the host remains. (Their kernel runs are the Devices/Library.*/cuda and /hip
// tests, which skip with the reason where no device exists.)
#include "test_support.hpp"

#include "kernels/library.hpp"

#include <gtest/gtest.h>

#include <dlfcn.h>

namespace kcache::test {
namespace {

using runtime::DeviceKind;

bool library_present(const char* name) {
    void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (h)
        dlclose(h);
    return h != nullptr;
}

TEST(GpuBackends, MissingCudaDriverIsAClearErrorOnFirstUse) {
    if (library_present("libcuda.so.1"))
        GTEST_SKIP() << "libcuda.so.1 is present on this machine";
    for (int attempt = 0; attempt < 2; ++attempt) { // the error stays; nothing is half-loaded
        try {
            runtime::gpu_devices(DeviceKind::Cuda);
            FAIL() << "expected a RuntimeError";
        } catch (const runtime::RuntimeError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("CUDA"), std::string::npos) << what;
            EXPECT_TRUE(what.find("libcuda.so.1") != std::string::npos ||
                        what.find("compiled out") != std::string::npos)
                << what;
        }
    }
}

TEST(GpuBackends, MissingHipRuntimeOrDeviceIsAClearErrorOnFirstUse) {
    // Without libamdhip64 the error names the library; with it but without an AMD GPU, hipInit
    // fails and the error names the call and the driver's error.
    try {
        auto devices = runtime::gpu_devices(DeviceKind::Hip);
        for (auto& d : devices)
            EXPECT_EQ(d->kind(), DeviceKind::Hip);
    } catch (const runtime::RuntimeError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind("HIP: ", 0), 0u) << what;
        EXPECT_TRUE(what.find("libamdhip64") != std::string::npos ||
                    what.find("compiled out") != std::string::npos)
            << what;
    }
}

TEST(GpuBackends, EnumerationListsTheHostFirstAndWhateverGpusExist) {
    auto devices = runtime::enumerate_devices();
    ASSERT_FALSE(devices.empty());
    EXPECT_EQ(devices.front()->kind(), DeviceKind::Host);
    for (auto& d : devices) {
        if (d->kind() == DeviceKind::Cuda) {
            EXPECT_EQ(d->target().kind, TargetKind::Nvptx);
            EXPECT_EQ(d->target().arch.rfind("sm_", 0), 0u) << d->target().arch;
        } else if (d->kind() == DeviceKind::Hip) {
            EXPECT_EQ(d->target().kind, TargetKind::Amdgpu);
            EXPECT_EQ(d->target().arch.rfind("gfx", 0), 0u) << d->target().arch;
        }
    }
}

// Redefinition on a GPU: the old module is unloaded stream-ordered, the next launch runs the new
// code. Skips without a device.
class GpuEviction : public ::testing::TestWithParam<DeviceKind> {};

TEST_P(GpuEviction, RedefinitionReloadsNewCode) {
    std::string why;
    auto dev = first_device(GetParam(), why);
    if (!dev)
        GTEST_SKIP() << why;
    MethodTable& table = MethodTable::create_root(unique("gpu_evict"));
    Function& helper = Function::define(unique("helper"));
    Function& user = Function::define(unique("user"));
    using namespace types;
    kernels::add_generator(table, helper, Signature({Float32()}), add_const(1.0f), Float32());
    kernels::add_generator(table, user, Signature({Ptr(Float32()), Int32()}), store_callee(helper));
    kernels::KernelCompiler compiler(table, unique("gpu_evict"));
    runtime::Runtime rt(compiler, {dev});
    runtime::DeviceBuffer<float> out(*dev, 100);
    rt.launch(*dev, user, {4, 32}, out, std::int32_t(100));
    EXPECT_EQ(out.to_vector()[5], 6.0f);
    kernels::add_generator(table, helper, Signature({Float32()}), add_const(7.0f), Float32());
    EXPECT_EQ(rt.stats().evictions, 1u);
    rt.launch(*dev, user, {4, 32}, out, std::int32_t(100));
    EXPECT_EQ(out.to_vector()[5], 12.0f);
    EXPECT_EQ(rt.stats().loads, 2u);
}

INSTANTIATE_TEST_SUITE_P(Gpus, GpuEviction, ::testing::Values(DeviceKind::Cuda, DeviceKind::Hip),
                         [](const auto& info) {
                             return std::string(runtime::to_string(info.param));
                         });

} // namespace
} // namespace kcache::test
