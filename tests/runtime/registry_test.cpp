// The device registry: the built-in drivers, lookups by name, and drivers registered from this
// test program, including ones that are absent, fail to come up, or make the wrong devices.
// (The registry is process-wide: ctest runs each test in a process of its own.)
#include "test_support.hpp"

#include "core/errors.hpp"
#include "runtime/device_registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

namespace kcache::test {
namespace {

using runtime::DeviceDriver;
using runtime::DeviceKind;
using runtime::DeviceRegistry;

TEST(DeviceRegistry, HoldsTheBuiltInDriversInOrder) {
    const auto all = DeviceRegistry::all();
    ASSERT_GE(all.size(), 3u);
    EXPECT_EQ(all[0], DeviceKind::host());
    EXPECT_EQ(all[1], DeviceKind::cuda());
    EXPECT_EQ(all[2], DeviceKind::hip());
    EXPECT_EQ(DeviceKind::host().name(), "host");
    EXPECT_EQ(DeviceRegistry::find("cuda"), DeviceKind::cuda());
    EXPECT_FALSE(DeviceRegistry::find("tpu"));
    EXPECT_EQ(runtime::to_string(DeviceKind()), "none");
    EXPECT_NE(DeviceKind::cuda(), DeviceKind::hip());
    EXPECT_EQ(std::hash<DeviceKind>{}(DeviceKind::host()), DeviceKind::host().hash());
    try {
        DeviceKind::named("tpu");
        ADD_FAILURE() << "found an unregistered driver";
    } catch (const InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("host, cuda, hip"), std::string::npos) << e.what();
    }
}

TEST(DeviceRegistry, RejectsMalformedAndDuplicateRegistrations) {
    DeviceDriver ok{[] { return 0; }, [](DeviceKind, int) { return nullptr; }};
    EXPECT_THROW(DeviceRegistry::add("", ok), InvalidArgumentError);
    EXPECT_THROW(DeviceRegistry::add("Has Spaces", ok), InvalidArgumentError);
    EXPECT_THROW(DeviceRegistry::add(std::string(33, 'a'), ok), InvalidArgumentError);
    EXPECT_THROW(DeviceRegistry::add("host", ok), InvalidArgumentError);
    EXPECT_THROW(DeviceRegistry::add("no-create", DeviceDriver{ok.count, {}}),
                 InvalidArgumentError);
    const DeviceKind empty = DeviceRegistry::add("regtest-empty", ok);
    EXPECT_EQ(DeviceRegistry::find("regtest-empty"), empty);
    EXPECT_EQ(DeviceRegistry::all().back(), empty);
    EXPECT_THROW(DeviceRegistry::add("regtest-empty", ok), InvalidArgumentError);
    EXPECT_TRUE(DeviceRegistry::discover(empty).devices.empty());
}

// A driver registered here is asked by enumerate_devices like the built-ins: devices it makes
// are listed after theirs, the ones it cannot make are unusable with the reason, and a driver
// that does not come up is unusable as a whole (ordinal -1) without hiding the others.
TEST(DeviceRegistry, EnumeratesRegisteredDriversWithTheirFailures) {
    std::atomic<int> created{0};
    const DeviceKind good = DeviceRegistry::add(
        "regtest-good", {[] { return 2; },
                         [&](DeviceKind, int ordinal) -> std::shared_ptr<runtime::Device> {
                             ++created;
                             if (ordinal == 1)
                                 throw runtime::RuntimeError("ordinal 1 is broken");
                             return host_device(); // of kind host: not this driver's
                         }});
    const DeviceKind down = DeviceRegistry::add(
        "regtest-down", {[]() -> int { throw runtime::RuntimeError("driver init failed"); },
                         [](DeviceKind, int) { return nullptr; }});
    const DeviceKind absent = DeviceRegistry::add(
        "regtest-absent",
        {[]() -> int { throw runtime::DriverUnavailableError("libregtest.so not found"); },
         [](DeviceKind, int) { return nullptr; }});

    std::vector<runtime::UnusableDevice> unusable;
    auto devices = runtime::enumerate_devices(&unusable);
    ASSERT_FALSE(devices.empty());
    EXPECT_EQ(devices.front()->kind(), DeviceKind::host());
    EXPECT_EQ(created.load(), 2);
    auto find = [&](DeviceKind kind, int ordinal) {
        return std::find_if(unusable.begin(), unusable.end(),
                            [&](const auto& u) { return u.kind == kind && u.ordinal == ordinal; });
    };
    ASSERT_NE(find(good, 0), unusable.end());
    EXPECT_NE(find(good, 0)->reason.find("another kind"), std::string::npos);
    ASSERT_NE(find(good, 1), unusable.end());
    EXPECT_NE(find(good, 1)->reason.find("ordinal 1 is broken"), std::string::npos);
    ASSERT_NE(find(down, -1), unusable.end());
    EXPECT_NE(find(down, -1)->reason.find("driver init failed"), std::string::npos);
    EXPECT_EQ(std::count_if(unusable.begin(), unusable.end(),
                            [&](const auto& u) { return u.kind == absent; }),
              0);
    EXPECT_THROW(DeviceRegistry::discover(absent), runtime::DriverUnavailableError);
}

TEST(DeviceRegistry, TheHostDriverMakesOneHostDeviceOfItsKind) {
    const auto found = DeviceRegistry::discover(DeviceKind::host());
    ASSERT_EQ(found.devices.size(), 1u);
    EXPECT_TRUE(found.unusable.empty());
    EXPECT_EQ(found.devices.front()->kind(), DeviceKind::host());
    EXPECT_EQ(found.devices.front()->target().kind, TargetKind::host());
}

} // namespace
} // namespace kcache::test
