// `kcache run`'s entry point: runs the library on the host and checks it; a missing GPU backend
// is reported, not a crash.
#include "runtime/demo.hpp"

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

TEST(Demo, AMissingBackendIsReported) {
    std::ostringstream out;
    const int rc = runtime::run_demo(out, DeviceChoice::Cuda);
    if (rc == 2)
        EXPECT_NE(out.str().find("CUDA"), std::string::npos) << out.str();
    else
        EXPECT_EQ(rc, 0) << out.str(); // a CUDA device exists
}

} // namespace
} // namespace kcache::test
