// The CUDA driver shim: libcuda.so.1 loaded with dlopen() on first use, its entry points in one
// X-macro table, normalised into detail::GpuApi. No link-time dependency on CUDA; cuda.h (for
// the types) is needed at build time only, else the backend is compiled out and says so.
#include "runtime/errors.hpp"
#include "runtime/gpu_api.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <mutex>
#include <string>

#if KCACHE_HAVE_CUDA_H
#include <cuda.h>

namespace kcache::runtime::detail {
namespace {

// name in libcuda (versioned where cuda.h maps it), and the prototype from cuda.h.
#define KCACHE_CUDA_ENTRY_POINTS(X)                                                                \
    X(cuInit, "cuInit")                                                                            \
    X(cuGetErrorName, "cuGetErrorName")                                                            \
    X(cuDeviceGetCount, "cuDeviceGetCount")                                                        \
    X(cuDeviceGet, "cuDeviceGet")                                                                  \
    X(cuDeviceGetName, "cuDeviceGetName")                                                          \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute")                                                \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")                                        \
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
    X(cuEventSynchronize, "cuEventSynchronize")                                                    \
    X(cuEventDestroy, "cuEventDestroy_v2")                                                         \
    X(cuModuleLoadData, "cuModuleLoadData")                                                        \
    X(cuModuleUnload, "cuModuleUnload")                                                            \
    X(cuModuleGetFunction, "cuModuleGetFunction")                                                  \
    X(cuLaunchKernel, "cuLaunchKernel")

struct Table {
#define X(fn, sym) decltype(&::fn) fn = nullptr;
    KCACHE_CUDA_ENTRY_POINTS(X)
#undef X
};

Table t;
CUcontext contexts[64];
std::mutex context_mutex;

const char* error_name(int st) {
    const char* s = nullptr;
    if (t.cuGetErrorName && t.cuGetErrorName(static_cast<CUresult>(st), &s) == CUDA_SUCCESS && s)
        return s;
    return "CUDA_ERROR_UNKNOWN";
}

int arch(int ordinal, char* buf, int len) {
    CUdevice d;
    int major = 0, minor = 0;
    if (CUresult r = t.cuDeviceGet(&d, ordinal))
        return r;
    if (CUresult r =
            t.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d))
        return r;
    if (CUresult r =
            t.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d))
        return r;
    std::snprintf(buf, static_cast<std::size_t>(len), "sm_%d%d", major, minor);
    return 0;
}

int activate(int ordinal) {
    if (ordinal < 0 || ordinal >= 64)
        return CUDA_ERROR_INVALID_DEVICE;
    CUcontext ctx;
    {
        std::lock_guard lock(context_mutex);
        if (!contexts[ordinal]) {
            CUdevice d;
            if (CUresult r = t.cuDeviceGet(&d, ordinal))
                return r;
            if (CUresult r = t.cuDevicePrimaryCtxRetain(&contexts[ordinal], d)) // kept for life
                return r;
        }
        ctx = contexts[ordinal];
    }
    return t.cuCtxSetCurrent(ctx);
}

GpuApi make_api(const char* library) {
    GpuApi a{};
    a.kind = DeviceKind::Cuda;
    a.driver = "CUDA";
    a.library = library;
    a.device_count = [](int* n) -> int { return t.cuDeviceGetCount(n); };
    a.device_name = [](int o, char* name, int len) -> int {
        CUdevice d;
        if (CUresult r = t.cuDeviceGet(&d, o))
            return r;
        return t.cuDeviceGetName(name, len, d);
    };
    a.arch = &arch;
    a.activate = &activate;
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
        return t.cuEventCreate(reinterpret_cast<CUevent*>(e), CU_EVENT_DISABLE_TIMING);
    };
    a.event_record = [](void* e, void* s) -> int {
        return t.cuEventRecord(static_cast<CUevent>(e), static_cast<CUstream>(s));
    };
    a.event_synchronize = [](void* e) -> int {
        return t.cuEventSynchronize(static_cast<CUevent>(e));
    };
    a.event_destroy = [](void* e) -> int { return t.cuEventDestroy(static_cast<CUevent>(e)); };
    a.module_load = [](void** m, const void* image) -> int {
        return t.cuModuleLoadData(reinterpret_cast<CUmodule*>(m), image);
    };
    a.module_unload = [](void* m) -> int { return t.cuModuleUnload(static_cast<CUmodule>(m)); };
    a.module_function = [](void** f, void* m, const char* name) -> int {
        return t.cuModuleGetFunction(reinterpret_cast<CUfunction*>(f), static_cast<CUmodule>(m),
                                     name);
    };
    a.launch = [](void* f, const Dim3& g, const Dim3& b, unsigned shared, void* s,
                  void** params) -> int {
        return t.cuLaunchKernel(static_cast<CUfunction>(f), g.x, g.y, g.z, b.x, b.y, b.z, shared,
                                static_cast<CUstream>(s), params, nullptr);
    };
    a.error_name = &error_name;
    return a;
}

} // namespace

const GpuApi& cuda_api() {
    static const GpuApi* api = []() -> const GpuApi* {
        const char* lib = "libcuda.so.1";
        void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            throw RuntimeError(std::string("CUDA: cannot load the driver ") + lib + ": " +
                               dlerror() + " (no NVIDIA driver on this machine?)");
#define X(fn, sym)                                                                                 \
    t.fn = reinterpret_cast<decltype(t.fn)>(dlsym(h, sym));                                        \
    if (!t.fn)                                                                                     \
        throw RuntimeError(std::string("CUDA: the driver ") + lib + " lacks " + sym +              \
                           " (driver too old?)");
        KCACHE_CUDA_ENTRY_POINTS(X)
#undef X
        if (CUresult r = t.cuInit(0))
            throw RuntimeError(std::string("CUDA: cuInit failed with ") + error_name(r) +
                               " on the driver " + lib);
        static const GpuApi a = make_api(lib);
        return &a;
    }();
    return *api;
}

} // namespace kcache::runtime::detail

#else

namespace kcache::runtime::detail {
const GpuApi& cuda_api() {
    throw RuntimeError("CUDA: backend compiled out: cuda.h was not found at build time (set "
                       "KCACHE_CUDA_HOME or install the CUDA toolkit headers and rebuild)");
}
} // namespace kcache::runtime::detail

#endif
