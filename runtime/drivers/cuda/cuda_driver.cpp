// The CUDA driver shim: libcuda.so.1 (or $KCACHE_CUDA_DRIVER) loaded with dlopen() on first use,
// its entry points in one X-macro table, normalised into detail::GpuApi. No link-time dependency
// on CUDA; cuda.h (for the types) is needed at build time only, else the backend is compiled out
// and says so.
#include "runtime/drivers/gpu/driver_library.hpp"
#include "runtime/drivers/gpu/gpu_api.hpp"
#include "runtime/errors.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#if KCACHE_HAVE_CUDA_H
#include <cuda.h>

namespace kcache::runtime::detail {
namespace {

// The name each entry point is exported under: cuda.h #defines several to a versioned symbol
// (cuMemAlloc -> cuMemAlloc_v2), and dlsym needs that name; the prototype comes from cuda.h.
#define KCACHE_CUDA_ENTRY_POINTS(X)                                                                \
    X(cuInit, "cuInit")                                                                            \
    X(cuGetErrorName, "cuGetErrorName")                                                            \
    X(cuGetErrorString, "cuGetErrorString")                                                        \
    X(cuDeviceGetCount, "cuDeviceGetCount")                                                        \
    X(cuDeviceGet, "cuDeviceGet")                                                                  \
    X(cuDeviceGetName, "cuDeviceGetName")                                                          \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute")                                                \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")                                        \
    X(cuCtxGetCurrent, "cuCtxGetCurrent")                                                          \
    X(cuCtxSetCurrent, "cuCtxSetCurrent")                                                          \
    X(cuCtxSynchronize, "cuCtxSynchronize")                                                        \
    X(cuMemAlloc, "cuMemAlloc_v2")                                                                 \
    X(cuMemFree, "cuMemFree_v2")                                                                   \
    X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2")                                                   \
    X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2")                                                   \
    X(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2")                                                   \
    X(cuStreamCreate, "cuStreamCreate")                                                            \
    X(cuStreamDestroy, "cuStreamDestroy_v2")                                                       \
    X(cuStreamSynchronize, "cuStreamSynchronize")                                                  \
    X(cuEventCreate, "cuEventCreate")                                                              \
    X(cuEventRecord, "cuEventRecord")                                                              \
    X(cuEventQuery, "cuEventQuery")                                                                \
    X(cuEventSynchronize, "cuEventSynchronize")                                                    \
    X(cuEventDestroy, "cuEventDestroy_v2")                                                         \
    X(cuModuleLoadDataEx, "cuModuleLoadDataEx")                                                    \
    X(cuModuleUnload, "cuModuleUnload")                                                            \
    X(cuModuleGetFunction, "cuModuleGetFunction")                                                  \
    X(cuFuncGetAttribute, "cuFuncGetAttribute")                                                    \
    X(cuFuncSetAttribute, "cuFuncSetAttribute")                                                    \
    X(cuLaunchKernel, "cuLaunchKernel")

struct Table {
#define X(fn, sym) decltype(&::fn) fn = nullptr;
    KCACHE_CUDA_ENTRY_POINTS(X)
#undef X
};

Table t;

// Primary contexts, retained on first use and kept for the life of the process; read without a
// lock on every call once set.
constexpr int kMaxDevices = 64;
std::atomic<CUcontext> contexts[kMaxDevices];
std::mutex context_mutex;

const char* error_name(int st) {
    const char* s = nullptr;
    if (t.cuGetErrorName && t.cuGetErrorName(static_cast<CUresult>(st), &s) == CUDA_SUCCESS && s)
        return s;
    return "CUDA_ERROR_UNKNOWN";
}

const char* error_string(int st) {
    const char* s = nullptr;
    if (t.cuGetErrorString && t.cuGetErrorString(static_cast<CUresult>(st), &s) == CUDA_SUCCESS &&
        s)
        return s;
    return "unknown error";
}

StatusKind classify(int st) {
    switch (st) {
    case CUDA_SUCCESS:
        return StatusKind::Ok;
    case CUDA_ERROR_NOT_READY:
        return StatusKind::NotReady;
    case CUDA_ERROR_NO_DEVICE:
        return StatusKind::NoDevice;
    case CUDA_ERROR_DEINITIALIZED:
        return StatusKind::Deinitialized;
    // cuda.h: "This leaves the process in an inconsistent state and any further CUDA work will
    // return the same error" (and the assert, whose context "cannot be used").
    case CUDA_ERROR_CONTAINED:
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_LAUNCH_TIMEOUT:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_TENSOR_MEMORY_LEAK:
    case CUDA_ERROR_EXTERNAL_DEVICE:
        return StatusKind::ContextLost;
    default:
        return StatusKind::Error;
    }
}

int attribute(std::uint32_t* out, CUdevice_attribute a, CUdevice d) {
    int v = 0;
    CUresult r = t.cuDeviceGetAttribute(&v, a, d);
    *out = v < 0 ? 0 : static_cast<std::uint32_t>(v);
    return r;
}

int arch(int ordinal, char* buf, int len) {
    CUdevice d;
    std::uint32_t major = 0, minor = 0;
    if (CUresult r = t.cuDeviceGet(&d, ordinal))
        return r;
    if (int r = attribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d))
        return r;
    if (int r = attribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d))
        return r;
    std::snprintf(buf, static_cast<std::size_t>(len), "sm_%u%u", major, minor);
    return 0;
}

int device_limits(int ordinal, DeviceLimits* l) {
    CUdevice d;
    if (CUresult r = t.cuDeviceGet(&d, ordinal))
        return r;
    const std::pair<std::uint32_t*, CUdevice_attribute> queries[] = {
        {&l->max_threads_per_block, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK},
        {&l->max_block[0], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X},
        {&l->max_block[1], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y},
        {&l->max_block[2], CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z},
        {&l->max_grid[0], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X},
        {&l->max_grid[1], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y},
        {&l->max_grid[2], CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z},
        {&l->shared_per_block, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK},
        {&l->shared_per_block_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN},
    };
    for (auto [out, a] : queries)
        if (int r = attribute(out, a, d))
            return r;
    return 0;
}

// The device's primary context, current on this thread for the call. Another library's context
// found current is put back afterwards (leave); a thread with none keeps ours, so the common case
// is a single cuCtxGetCurrent.
int enter(int ordinal, void** restore) {
    *restore = nullptr;
    if (ordinal < 0 || ordinal >= kMaxDevices)
        return CUDA_ERROR_INVALID_DEVICE;
    CUcontext ctx = contexts[ordinal].load(std::memory_order_acquire);
    if (!ctx) [[unlikely]] {
        std::lock_guard lock(context_mutex);
        ctx = contexts[ordinal].load(std::memory_order_relaxed);
        if (!ctx) {
            CUdevice d;
            if (CUresult r = t.cuDeviceGet(&d, ordinal))
                return r;
            if (CUresult r = t.cuDevicePrimaryCtxRetain(&ctx, d))
                return r;
            contexts[ordinal].store(ctx, std::memory_order_release);
        }
    }
    CUcontext current = nullptr;
    if (CUresult r = t.cuCtxGetCurrent(&current))
        return r;
    if (current == ctx) [[likely]]
        return CUDA_SUCCESS;
    if (CUresult r = t.cuCtxSetCurrent(ctx))
        return r;
    *restore = current; // nullptr when the thread had no context: ours stays
    return CUDA_SUCCESS;
}

int leave(void* restore) {
    return t.cuCtxSetCurrent(static_cast<CUcontext>(restore));
}

int module_load(void** m, const void* image, const LoadLog& log) {
    CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                              CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
    // Sizes are passed by value in the pointer slots (cuda.h: "Option type: unsigned int").
    void* values[] = {
        log.error, reinterpret_cast<void*>(static_cast<std::uintptr_t>(log.error_size)), log.info,
        reinterpret_cast<void*>(static_cast<std::uintptr_t>(log.info_size))};
    return t.cuModuleLoadDataEx(reinterpret_cast<CUmodule*>(m), image, 4, options, values);
}

int function_limits(void* f, int, FunctionLimits* l) {
    auto fn = static_cast<CUfunction>(f);
    int threads = 0, shared = 0, dynamic = 0;
    if (CUresult r = t.cuFuncGetAttribute(&threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn))
        return r;
    if (CUresult r = t.cuFuncGetAttribute(&shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn))
        return r;
    if (CUresult r =
            t.cuFuncGetAttribute(&dynamic, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, fn))
        return r;
    l->max_threads_per_block = static_cast<std::uint32_t>(threads < 0 ? 0 : threads);
    l->static_shared_bytes = static_cast<std::uint32_t>(shared < 0 ? 0 : shared);
    l->max_dynamic_shared_bytes = static_cast<std::uint32_t>(dynamic < 0 ? 0 : dynamic);
    return 0;
}

GpuApi make_api(const char* library) {
    GpuApi a{};
    a.driver = "CUDA";
    a.target = "nvptx";
    a.library = library;
    a.unusable_reason = nullptr;
    a.init = []() -> int { return t.cuInit(0); };
    a.device_count = [](int* n) -> int { return t.cuDeviceGetCount(n); };
    a.device_name = [](int o, char* name, int len) -> int {
        CUdevice d;
        if (CUresult r = t.cuDeviceGet(&d, o))
            return r;
        return t.cuDeviceGetName(name, len, d);
    };
    a.arch = &arch;
    a.device_limits = &device_limits;
    a.enter = &enter;
    a.leave = &leave;
    a.mem_alloc = [](std::uint64_t* p, std::size_t n) -> int {
        CUdeviceptr d = 0;
        CUresult r = t.cuMemAlloc(&d, n);
        *p = d;
        return r;
    };
    a.mem_free = [](std::uint64_t p) -> int { return t.cuMemFree(p); };
    a.copy_h2d = [](std::uint64_t d, const void* s, std::size_t n, void* st) -> int {
        return t.cuMemcpyHtoDAsync(d, s, n, static_cast<CUstream>(st));
    };
    a.copy_d2h = [](void* d, std::uint64_t s, std::size_t n, void* st) -> int {
        return t.cuMemcpyDtoHAsync(d, s, n, static_cast<CUstream>(st));
    };
    a.copy_d2d = [](std::uint64_t d, std::uint64_t s, std::size_t n, void* st) -> int {
        return t.cuMemcpyDtoDAsync(d, s, n, static_cast<CUstream>(st));
    };
    a.stream_create = [](void** s) -> int {
        return t.cuStreamCreate(reinterpret_cast<CUstream*>(s), CU_STREAM_NON_BLOCKING);
    };
    a.stream_destroy = [](void* s) -> int { return t.cuStreamDestroy(static_cast<CUstream>(s)); };
    a.stream_synchronize = [](void* s) -> int {
        return t.cuStreamSynchronize(static_cast<CUstream>(s));
    };
    a.device_synchronize = []() -> int { return t.cuCtxSynchronize(); };
    a.event_create = [](void** e) -> int {
        return t.cuEventCreate(reinterpret_cast<CUevent*>(e),
                               CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING);
    };
    a.event_record = [](void* e, void* s) -> int {
        return t.cuEventRecord(static_cast<CUevent>(e), static_cast<CUstream>(s));
    };
    a.event_query = [](void* e) -> int { return t.cuEventQuery(static_cast<CUevent>(e)); };
    a.event_synchronize = [](void* e) -> int {
        return t.cuEventSynchronize(static_cast<CUevent>(e));
    };
    a.event_destroy = [](void* e) -> int { return t.cuEventDestroy(static_cast<CUevent>(e)); };
    a.module_load = &module_load;
    a.module_unload = [](void* m) -> int { return t.cuModuleUnload(static_cast<CUmodule>(m)); };
    a.module_function = [](void** f, void* m, const char* name) -> int {
        return t.cuModuleGetFunction(reinterpret_cast<CUfunction*>(f), static_cast<CUmodule>(m),
                                     name);
    };
    a.function_limits = &function_limits;
    a.set_dynamic_shared = [](void* f, std::uint32_t bytes) -> int {
        return t.cuFuncSetAttribute(static_cast<CUfunction>(f),
                                    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                    static_cast<int>(bytes));
    };
    a.launch = [](void* f, const Dim3& g, const Dim3& b, unsigned shared, void* s,
                  void** params) -> int {
        return t.cuLaunchKernel(static_cast<CUfunction>(f), g.x, g.y, g.z, b.x, b.y, b.z, shared,
                                static_cast<CUstream>(s), params, nullptr);
    };
    a.error_name = &error_name;
    a.error_string = &error_string;
    a.classify = &classify;
    return a;
}

} // namespace

const GpuApi& cuda_api() {
    static std::mutex mutex;
    static const GpuApi* loaded = nullptr; // set once, under the mutex
    std::lock_guard lock(mutex);
    if (loaded)
        return *loaded;
    // Never freed: devices may call the driver during exit, after every other static is gone.
    static const DriverLibrary* lib =
        new DriverLibrary(open_driver_library("CUDA", {"libcuda.so.1"}, "KCACHE_CUDA_DRIVER"));
#define X(fn, sym) t.fn = reinterpret_cast<decltype(t.fn)>(lib->require("CUDA", sym));
    KCACHE_CUDA_ENTRY_POINTS(X)
#undef X
    static const GpuApi api = make_api(lib->path.c_str());
    loaded = &api;
    return api;
}

} // namespace kcache::runtime::detail

#else

namespace kcache::runtime::detail {
const GpuApi& cuda_api() {
    throw DriverUnavailableError(
        "CUDA: backend compiled out: cuda.h was not found at build time (set KCACHE_CUDA_HOME or "
        "install the CUDA toolkit headers and rebuild)");
}
} // namespace kcache::runtime::detail

#endif
