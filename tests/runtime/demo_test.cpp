// `kcache run`'s entry point: runs the library on the host and checks it, and on a GPU where one
// exists; a missing GPU backend is reported, not a crash.
#include "runtime/demo.hpp"

#include "test_support.hpp"

#include "core/errors.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace kcache::test {
namespace {

using runtime::DeviceChoice;

TEST(Demo, RunsTheLibraryOnTheHostAndShowsAnEviction) {
    std::ostringstream out;
    EXPECT_EQ(runtime::run_demo(out, DeviceChoice::Host), 0) << out.str();
    const std::string s = out.str();
    for (const char* kernel : {"fill", "copy", "vadd", "saxpy", "reduce_sum", "softmax_rows",
                               "transpose", "matmul_tiled", "axpby_ir"})
        EXPECT_NE(s.find(kernel), std::string::npos) << kernel;
    EXPECT_NE(s.find("modules evicted: 4"), std::string::npos) << s;
    EXPECT_NE(s.find("reloaded: 1 module"), std::string::npos) << s;
    EXPECT_EQ(s.find("MISMATCH"), std::string::npos) << s;
    // A second run in the same process works too (own cache, same overlay).
    std::ostringstream again;
    EXPECT_EQ(runtime::run_demo(again, DeviceChoice::Host), 0) << again.str();
}

TEST(Demo, ParsesDeviceChoices) {
    EXPECT_EQ(runtime::parse_device_choice("host"), DeviceChoice::Host);
    EXPECT_EQ(runtime::parse_device_choice("cuda"), DeviceChoice::Cuda);
    EXPECT_EQ(runtime::parse_device_choice("hip"), DeviceChoice::Hip);
    EXPECT_EQ(runtime::parse_device_choice("best"), DeviceChoice::Best);
    EXPECT_THROW(runtime::parse_device_choice("tpu"), InvalidArgumentError);
}

// `kcache run --device cuda|hip` runs the library on the GPU; exit code 2 ("unavailable", with the
// reason) only where there is truly no such device (see test_device).
class DemoOnGpu : public ::testing::TestWithParam<runtime::DeviceKind> {};

TEST_P(DemoOnGpu, RunsTheLibraryOrSaysWhyThereIsNoDevice) {
    const TestDevice& expected = test_device(GetParam());
    std::ostringstream out;
    const int rc = runtime::run_demo(
        out, GetParam() == runtime::DeviceKind::Cuda ? DeviceChoice::Cuda : DeviceChoice::Hip);
    if (expected.device) {
        EXPECT_EQ(rc, 0) << out.str();
        EXPECT_NE(out.str().find("all results match"), std::string::npos) << out.str();
    } else if (expected.failure) {
        FAIL() << expected.why << "\n" << out.str();
    } else {
        EXPECT_EQ(rc, 2) << out.str();
        const std::string driver = GetParam() == runtime::DeviceKind::Cuda ? "CUDA" : "HIP";
        const std::string kind = runtime::to_string(GetParam());
        EXPECT_TRUE(out.str().find(driver + ": ") != std::string::npos ||
                    out.str().find("no " + kind + " device present") != std::string::npos)
            << out.str();
    }
}

INSTANTIATE_TEST_SUITE_P(Gpus, DemoOnGpu,
                         ::testing::Values(runtime::DeviceKind::Cuda, runtime::DeviceKind::Hip),
                         [](const auto& info) {
                             return std::string(runtime::to_string(info.param));
                         });

} // namespace
} // namespace kcache::test
