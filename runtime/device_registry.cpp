#include "runtime/device_registry.hpp"

#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "core/log.hpp"
#include "core/named_registry.hpp"
#include "runtime/builtin_device_drivers.inc" // generated: KCACHE_BUILTIN_DEVICE_DRIVERS
#include "runtime/errors.hpp"

#include <mutex>
#include <ostream>

// Each built-in driver's folder defines its driver
// (runtime/drivers/<name>/<name>_registration.cpp).
namespace kcache::builtin {
#define KCACHE_DECLARE_DRIVER(name) runtime::DeviceDriver device_drivers_##name();
KCACHE_BUILTIN_DEVICE_DRIVERS(KCACHE_DECLARE_DRIVER)
#undef KCACHE_DECLARE_DRIVER
} // namespace kcache::builtin

namespace kcache::runtime {

namespace detail {
struct DeviceDriverEntry {
    std::string name;
    DeviceDriver driver;

    DeviceKind kind() const { return DeviceKind(this); }
};
} // namespace detail

namespace {

using detail::DeviceDriverEntry;
using Registry = NamedRegistry<DeviceDriverEntry>;

// Leaked on purpose: kinds stay valid for devices destroyed by static destructors at exit.
Registry& bare_registry() {
    static Registry* r = new Registry;
    return *r;
}

Registry& registry() {
    static std::once_flag builtins;
    std::call_once(builtins, [] { register_builtin_device_drivers(); });
    return bare_registry();
}

DeviceKind add_to(Registry& r, std::string name, DeviceDriver driver) {
    if (!driver.count || !driver.create)
        throw InvalidArgumentError("device driver '" + excerpt(name) +
                                   "' registered without count() or create()");
    auto entry = std::make_unique<DeviceDriverEntry>();
    entry->name = std::move(name);
    entry->driver = std::move(driver);
    return r.add(std::move(entry), "device driver").kind();
}

const DeviceDriverEntry* entry_of(DeviceKind kind) {
    for (const DeviceDriverEntry* e : registry().all())
        if (e->kind() == kind)
            return e;
    throw InvalidArgumentError("no device driver given (the default-constructed DeviceKind)");
}

} // namespace

// --- DeviceKind --------------------------------------------------------------------------------

DeviceKind DeviceKind::named(std::string_view name) {
    if (DeviceKind k = DeviceRegistry::find(name))
        return k;
    throw InvalidArgumentError("unknown device '" + excerpt(name) +
                               "'; registered: " + DeviceRegistry::names());
}

DeviceKind DeviceKind::host() {
    static const DeviceKind k = named("host");
    return k;
}
DeviceKind DeviceKind::cuda() {
    static const DeviceKind k = named("cuda");
    return k;
}
DeviceKind DeviceKind::hip() {
    static const DeviceKind k = named("hip");
    return k;
}

std::string_view DeviceKind::name() const {
    return entry_ ? std::string_view(entry_->name) : std::string_view();
}

std::string_view to_string(DeviceKind kind) {
    return kind ? kind.name() : std::string_view("none");
}

std::ostream& operator<<(std::ostream& os, DeviceKind kind) {
    return os << to_string(kind);
}

// --- DeviceRegistry ----------------------------------------------------------------------------

DeviceKind DeviceRegistry::add(std::string name, DeviceDriver driver) {
    return add_to(registry(), std::move(name), std::move(driver));
}

DeviceKind DeviceRegistry::find(std::string_view name) {
    const DeviceDriverEntry* e = registry().find(name);
    return e ? e->kind() : DeviceKind();
}

std::vector<DeviceKind> DeviceRegistry::all() {
    std::vector<DeviceKind> out;
    for (const DeviceDriverEntry* e : registry().all())
        out.push_back(e->kind());
    return out;
}

std::string DeviceRegistry::names() {
    return registry().names();
}

DeviceDiscovery DeviceRegistry::discover(DeviceKind kind) {
    const DeviceDriver& driver = entry_of(kind)->driver; // immutable once registered
    DeviceDiscovery found;
    const int count = driver.count();
    for (int i = 0; i < count; ++i) {
        try {
            std::shared_ptr<Device> d = driver.create(kind, i);
            if (!d || d->kind() != kind)
                throw InvalidArgumentError("device driver '" + std::string(kind.name()) +
                                           "' made no device, or one of another kind");
            found.devices.push_back(std::move(d));
        } catch (const Error& e) {
            found.unusable.push_back({kind, i, e.what()});
        }
    }
    return found;
}

void register_builtin_device_drivers() {
    static std::once_flag once;
    std::call_once(once, [] {
        Registry& r = bare_registry();
#define KCACHE_ADD_DRIVER(name) add_to(r, #name, builtin::device_drivers_##name());
        KCACHE_BUILTIN_DEVICE_DRIVERS(KCACHE_ADD_DRIVER)
#undef KCACHE_ADD_DRIVER
    });
}

std::vector<std::shared_ptr<Device>> enumerate_devices(std::vector<UnusableDevice>* unusable) {
    std::vector<std::shared_ptr<Device>> out;
    std::vector<UnusableDevice> found_unusable;
    for (DeviceKind kind : DeviceRegistry::all()) {
        try {
            DeviceDiscovery found = DeviceRegistry::discover(kind);
            out.insert(out.end(), found.devices.begin(), found.devices.end());
            found_unusable.insert(found_unusable.end(), found.unusable.begin(),
                                  found.unusable.end());
        } catch (const DriverUnavailableError&) {
            // No such driver on this machine: absent, not unusable.
        } catch (const Error& e) {
            found_unusable.push_back({kind, -1, e.what()});
        }
    }
    for (const UnusableDevice& u : found_unusable)
        log().warn("{} device {} cannot be used: {}", to_string(u.kind), u.ordinal, u.reason);
    if (unusable)
        unusable->insert(unusable->end(), found_unusable.begin(), found_unusable.end());
    return out;
}

} // namespace kcache::runtime
