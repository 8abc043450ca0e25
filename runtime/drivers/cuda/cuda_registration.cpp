// The CUDA device driver's registration (cmake/KcacheBuiltins.cmake): the shared GPU
// device logic over this folder's driver table, added by the device registry on its first use.
#include "runtime/drivers/gpu/gpu_api.hpp"
#include "runtime/drivers/gpu/gpu_device.hpp"

namespace kcache::builtin {

runtime::DeviceDriver device_drivers_cuda() {
    return runtime::gpu_device_driver(runtime::detail::cuda_api);
}

} // namespace kcache::builtin
