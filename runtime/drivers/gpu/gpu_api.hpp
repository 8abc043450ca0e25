// The GPU drivers as one table of normalised entry points, so that the CUDA and HIP backends
// share every line of device logic (runtime/drivers/gpu/gpu_device.cpp) and differ only in a thin
// shim that dlopen()s the driver and fills this table (runtime/drivers/cuda/cuda_driver.cpp,
// runtime/drivers/hip/hip_driver.cpp). Handles are void*, device addresses std::uint64_t, results
// the driver's status code (0: ok), which the shim's classify() sorts into what the device logic
// needs to know. Thread-safety: the table is immutable once loaded; the drivers' calls are
// thread-safe.
#pragma once

#include "runtime/device.hpp"

#include <cstddef>
#include <cstdint>

namespace kcache::runtime::detail {

/// What a driver status means for the device.
enum class StatusKind {
    Ok,
    Error,         ///< this call failed; the device is fine
    NotReady,      ///< (event_query) the work is still running
    ContextLost,   ///< sticky: a kernel faulted; every later call fails with this error
    Deinitialized, ///< the driver is shutting down (process exit): nothing is left to do
    NoDevice,      ///< (init) the driver sees no device
};

/// A device's launch limits, queried once when the device is created.
struct DeviceLimits {
    std::uint32_t max_threads_per_block = 0;
    std::uint32_t max_block[3] = {};
    std::uint32_t max_grid[3] = {};
    /// Shared memory a block may use without opting in (CUDA: 48 KiB).
    std::uint32_t shared_per_block = 0;
    /// The most a kernel may opt in to (CUDA: CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES up
    /// to the device's opt-in limit, 227 KiB on an H100/H200); HIP: shared_per_block.
    std::uint32_t shared_per_block_optin = 0;
};

/// A loaded kernel's own limits, queried once when its module is loaded.
struct FunctionLimits {
    /// The device's limit lowered by the kernel's register use.
    std::uint32_t max_threads_per_block = 0;
    std::uint32_t static_shared_bytes = 0;
    /// Dynamic shared memory a launch may ask for before the kernel opts in to more
    /// (set_dynamic_shared); UINT32_MAX where the driver has no such setting.
    std::uint32_t max_dynamic_shared_bytes = 0;
};

/// Buffers for a module load's logs (CUDA: the JIT's error and info logs); NUL-terminated on
/// return, empty where the driver writes none.
struct LoadLog {
    char* error = nullptr;
    std::size_t error_size = 0;
    char* info = nullptr;
    std::size_t info_size = 0;
};

struct GpuApi {
    const char* driver;  ///< "CUDA", "HIP"
    const char* library; ///< the library it was loaded from
    /// The registered target its devices compile for: "nvptx", "amdgpu".
    const char* target;
    /// Why no device of this driver can run kcache's code (e.g. a HIP runtime older than ROCm
    /// 5.2, which cannot load code object v5); nullptr when they can.
    const char* unusable_reason;
    /// Initialises the driver (idempotent); NoDevice when it finds none.
    int (*init)();
    int (*device_count)(int* count);
    int (*device_name)(int ordinal, char* name, int len);
    /// The device's architecture, e.g. "sm_90" or "gfx942" (no feature suffixes; may be empty
    /// when the driver does not say).
    int (*arch)(int ordinal, char* name, int len);
    int (*device_limits)(int ordinal, DeviceLimits* limits);
    /// Makes the device current on the calling thread. `*restore` receives what leave() must
    /// reinstate afterwards (another library's context or device), or nullptr when the device
    /// may stay current.
    int (*enter)(int ordinal, void** restore);
    int (*leave)(void* restore);
    int (*mem_alloc)(std::uint64_t* ptr, std::size_t bytes);
    int (*mem_free)(std::uint64_t ptr);
    int (*copy_h2d)(std::uint64_t dst, const void* src, std::size_t bytes, void* stream);
    int (*copy_d2h)(void* dst, std::uint64_t src, std::size_t bytes, void* stream);
    int (*copy_d2d)(std::uint64_t dst, std::uint64_t src, std::size_t bytes, void* stream);
    int (*stream_create)(void** stream);
    int (*stream_destroy)(void* stream);
    int (*stream_synchronize)(void* stream);
    int (*device_synchronize)();
    /// Events that a waiting thread sleeps on (blocking sync) and that record no timing.
    int (*event_create)(void** event);
    int (*event_record)(void* event, void* stream);
    /// Ok when the work before the event has finished, NotReady while it runs.
    int (*event_query)(void* event);
    int (*event_synchronize)(void* event);
    int (*event_destroy)(void* event);
    int (*module_load)(void** module, const void* image, const LoadLog& log);
    int (*module_unload)(void* module);
    int (*module_function)(void** function, void* module, const char* name);
    int (*function_limits)(void* function, int ordinal, FunctionLimits* limits);
    /// Lets `function` be launched with up to `bytes` of dynamic shared memory.
    int (*set_dynamic_shared)(void* function, std::uint32_t bytes);
    int (*launch)(void* function, const Dim3& grid, const Dim3& block, unsigned shared_bytes,
                  void* stream, void** params);
    /// The driver's name of a status code, e.g. "CUDA_ERROR_OUT_OF_MEMORY".
    const char* (*error_name)(int status);
    /// The driver's description of a status code.
    const char* (*error_string)(int status);
    StatusKind (*classify)(int status);
};

/// The CUDA driver (libcuda.so.1, or $KCACHE_CUDA_DRIVER), loaded and bound on first use; not
/// initialised (GpuApi::init does that). Throws DriverUnavailableError when the backend is
/// compiled out or the library is absent, RuntimeError when it lacks an entry point. A failed
/// attempt is not remembered: the next call tries again.
const GpuApi& cuda_api();
/// The HIP runtime (libamdhip64.so.7, .6, .5, or $KCACHE_HIP_RUNTIME), likewise.
const GpuApi& hip_api();

} // namespace kcache::runtime::detail
