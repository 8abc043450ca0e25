// The device registry (IREE's HAL driver registry, in small): every kind of device kcache can
// run kernels on is a driver registered under a name with two functions, how many devices it
// finds and how it creates one. enumerate_devices() asks every registered driver, in
// registration order; `kcache run --device NAME` picks one by name.
//
// The built-in drivers (host, cuda, hip) are registered by register_builtin_device_drivers(),
// which the registry calls itself on its first use: no static registration objects (nothing
// depends on static-initialisation order or on the linker keeping an unreferenced object of a
// static library). A program or a test registers its own drivers with DeviceRegistry::add at
// run time, before it enumerates.
//
// Thread-safety: thread-safe. Drivers are never removed: a DeviceKind stays valid for the
// process.
#pragma once

#include "runtime/device.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::runtime {

/// How a driver finds and makes its devices.
struct DeviceDriver {
    /// How many devices the driver sees, initialising it if need be. Throws
    /// DriverUnavailableError when the driver is absent here (its library missing, the backend
    /// compiled out): the driver then has no devices, and none is unusable. Any other Error
    /// means a driver that is present but does not come up.
    std::function<int()> count;
    /// Device `ordinal` (0 <= ordinal < count()) of the driver registered as `self`, whose
    /// kind() is `self`. Throws an Error, with the reason, for a device kcache cannot use (an
    /// architecture its target does not know, ...).
    std::function<std::shared_ptr<Device>(DeviceKind self, int ordinal)> create;
};

/// A device the driver reports that kcache cannot use, or a driver that is present but fails
/// to come up (ordinal -1), and why: e.g. an architecture this LLVM cannot generate code for
/// (sm_100, sm_120, gfx950).
struct UnusableDevice {
    DeviceKind kind;
    int ordinal;
    std::string reason;
};

/// The devices of one driver: those kcache can use, and those it cannot, with the reason.
struct DeviceDiscovery {
    std::vector<std::shared_ptr<Device>> devices;
    std::vector<UnusableDevice> unusable;
};

class DeviceRegistry {
public:
    /// Registers `name` (lowercase letters, digits, '_' and '-', at most 32 characters) and
    /// returns its kind. Throws InvalidArgumentError for a malformed or taken name, or a driver
    /// without both functions.
    static DeviceKind add(std::string name, DeviceDriver driver);
    /// The driver registered as `name`; the default-constructed kind when there is none.
    static DeviceKind find(std::string_view name);
    /// Every registered driver, in registration order (the built-ins first: host, cuda, hip).
    static std::vector<DeviceKind> all();
    /// "host, cuda, hip, ...": for messages and help texts.
    static std::string names();

    /// Every device of `kind`: create(i) for each i < count(); a device that cannot be made is
    /// listed as unusable. Throws DriverUnavailableError when the driver is absent, and what
    /// count() throws when it does not come up.
    static DeviceDiscovery discover(DeviceKind kind);
};

/// Registers host, cuda and hip. Called by the registry on its first use; idempotent.
void register_builtin_device_drivers();

/// Every usable device of every registered driver, in registration order (the host CPU first,
/// then CUDA and HIP devices where a driver is found). An absent driver is simply skipped;
/// unusable devices and drivers that fail to come up are logged (warn) and, when `unusable` is
/// given, appended to it. The rest work either way.
std::vector<std::shared_ptr<Device>>
enumerate_devices(std::vector<UnusableDevice>* unusable = nullptr);

} // namespace kcache::runtime
