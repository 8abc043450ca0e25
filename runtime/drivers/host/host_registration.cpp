// The host device driver's registration (cmake/KcacheBuiltins.cmake): the driver the device
// registry adds on its first use.
#include "runtime/drivers/host/host_device.hpp"

namespace kcache::builtin {

runtime::DeviceDriver device_drivers_host() {
    return runtime::host_device_driver();
}

} // namespace kcache::builtin
