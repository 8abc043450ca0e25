// `kcache run`'s entry point: runs the library on the host and checks it, and on a GPU where one
// exists; a missing GPU backend is reported, not a crash.
#include "demo.hpp"

#include "test_support.hpp" // tests/runtime

#include "core/errors.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace kcache::test {
namespace {

using cli::parse_device_choice;
using cli::run_demo;

TEST(Demo, RunsTheLibraryOnTheHostAndShowsAnEviction) {
    std::ostringstream out;
    EXPECT_EQ(run_demo(out, "host"), 0) << out.str();
    const std::string s = out.str();
    for (const char* kernel : {"fill", "copy", "vadd", "saxpy", "reduce_sum", "softmax_rows",
                               "transpose", "matmul_tiled", "axpby_ir"})
        EXPECT_NE(s.find(kernel), std::string::npos) << kernel;
    EXPECT_NE(s.find("modules evicted: 4"), std::string::npos) << s;
    EXPECT_NE(s.find("reloaded: 1 module"), std::string::npos) << s;
    EXPECT_EQ(s.find("MISMATCH"), std::string::npos) << s;
    // A second run in the same process works too (own cache, same overlay).
    std::ostringstream again;
    EXPECT_EQ(run_demo(again, "host"), 0) << again.str();
}

TEST(Demo, ParsesDeviceChoicesFromTheRegistry) {
    for (const char* name : {"host", "cuda", "hip", "best"})
        EXPECT_EQ(parse_device_choice(name), name);
    try {
        parse_device_choice("tpu");
        ADD_FAILURE() << "accepted a device no driver is registered as";
    } catch (const InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("host, cuda, hip"), std::string::npos) << e.what();
    }
}

// `kcache run --device cuda|hip` runs the library on the GPU; exit code 2 ("unavailable", with the
// reason) only where there is truly no such device (see test_device).
class DemoOnGpu : public ::testing::TestWithParam<runtime::DeviceKind> {};

TEST_P(DemoOnGpu, RunsTheLibraryOrSaysWhyThereIsNoDevice) {
    const TestDevice& expected = test_device(GetParam());
    std::ostringstream out;
    const int rc = run_demo(out, std::string(runtime::to_string(GetParam())));
    if (expected.device) {
        EXPECT_EQ(rc, 0) << out.str();
        EXPECT_NE(out.str().find("all results match"), std::string::npos) << out.str();
    } else if (expected.failure) {
        FAIL() << expected.why << "\n" << out.str();
    } else {
        EXPECT_EQ(rc, 2) << out.str();
        const std::string driver = GetParam() == runtime::DeviceKind::cuda() ? "CUDA" : "HIP";
        const std::string kind(runtime::to_string(GetParam()));
        EXPECT_TRUE(out.str().find(driver + ": ") != std::string::npos ||
                    out.str().find("no " + kind + " device present") != std::string::npos)
            << out.str();
    }
}

INSTANTIATE_TEST_SUITE_P(Gpus, DemoOnGpu,
                         ::testing::Values(runtime::DeviceKind::cuda(), runtime::DeviceKind::hip()),
                         [](const auto& info) {
                             return std::string(runtime::to_string(info.param));
                         });

} // namespace
} // namespace kcache::test
