// The GPU drivers as one table of normalised entry points, so that the CUDA and HIP backends
// share every line of device logic (runtime/gpu_device.cpp) and differ only in a thin shim that
// dlopen()s the driver and fills this table (runtime/cuda_driver.cpp, runtime/hip_driver.cpp).
// Handles are void*, device addresses std::uint64_t, results the driver's status code (0: ok).
// Thread-safety: the table is immutable once loaded; the drivers' calls are thread-safe.
#pragma once

#include "runtime/device.hpp"

#include <cstddef>
#include <cstdint>

namespace kcache::runtime::detail {

struct GpuApi {
    DeviceKind kind;
    const char* driver;  ///< "CUDA", "HIP"
    const char* library; ///< the library it was loaded from
    int (*device_count)(int* count);
    int (*device_name)(int ordinal, char* name, int len);
    /// The device's architecture, e.g. "sm_90" or "gfx942" (no feature suffixes).
    int (*arch)(int ordinal, char* name, int len);
    /// Makes the device current on the calling thread (CUDA: its primary context).
    int (*activate)(int ordinal);
    int (*mem_alloc)(std::uint64_t* ptr, std::size_t bytes);
    int (*mem_free)(std::uint64_t ptr);
    int (*copy_h2d)(std::uint64_t dst, const void* src, std::size_t bytes, void* stream);
    int (*copy_d2h)(void* dst, std::uint64_t src, std::size_t bytes, void* stream);
    int (*copy_d2d)(std::uint64_t dst, std::uint64_t src, std::size_t bytes, void* stream);
    int (*stream_create)(void** stream);
    int (*stream_destroy)(void* stream);
    int (*stream_synchronize)(void* stream);
    int (*device_synchronize)();
    int (*event_create)(void** event);
    int (*event_record)(void* event, void* stream);
    int (*event_synchronize)(void* event);
    int (*event_destroy)(void* event);
    int (*module_load)(void** module, const void* image);
    int (*module_unload)(void* module);
    int (*module_function)(void** function, void* module, const char* name);
    int (*launch)(void* function, const Dim3& grid, const Dim3& block, unsigned shared_bytes,
                  void* stream, void** params);
    /// The driver's name of a status code, e.g. "CUDA_ERROR_OUT_OF_MEMORY".
    const char* (*error_name)(int status);
};

/// The CUDA driver (libcuda.so.1), loaded on first use. Throws RuntimeError saying why when it
/// cannot be loaded or initialised (no library, compiled out, cuInit failing).
const GpuApi& cuda_api();
/// The HIP runtime (libamdhip64.so), likewise.
const GpuApi& hip_api();

} // namespace kcache::runtime::detail
