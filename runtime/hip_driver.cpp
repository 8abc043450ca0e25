// The HIP shim: libamdhip64.so loaded with dlopen() on first use, its entry points in one X-macro
// table, normalised into detail::GpuApi (the same table the CUDA shim fills). Types come from
// hip/hip_runtime_api.h (Debian's libamdhip64-dev) at build time; without it the backend is
// compiled out and says so.
#include "runtime/errors.hpp"
#include "runtime/gpu_api.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

#if KCACHE_HAVE_HIP_H
#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

namespace kcache::runtime::detail {
namespace {

#define KCACHE_HIP_ENTRY_POINTS(X, XT)                                                             \
    X(hipInit)                                                                                     \
    X(hipGetErrorName)                                                                             \
    X(hipGetDeviceCount)                                                                           \
    X(hipDeviceGetName)                                                                            \
    X(hipGetDeviceProperties)                                                                      \
    X(hipSetDevice)                                                                                \
    X(hipDeviceSynchronize)                                                                        \
    XT(hipMalloc, hipError_t (*)(void**, size_t))                                                  \
    X(hipFree)                                                                                     \
    X(hipMemcpyHtoDAsync)                                                                          \
    X(hipMemcpyDtoHAsync)                                                                          \
    X(hipMemcpyDtoDAsync)                                                                          \
    X(hipStreamCreateWithFlags)                                                                    \
    X(hipStreamDestroy)                                                                            \
    X(hipStreamSynchronize)                                                                        \
    X(hipEventCreateWithFlags)                                                                     \
    X(hipEventRecord)                                                                              \
    X(hipEventSynchronize)                                                                         \
    X(hipEventDestroy)                                                                             \
    X(hipModuleLoadData)                                                                           \
    X(hipModuleUnload)                                                                             \
    X(hipModuleGetFunction)                                                                        \
    X(hipModuleLaunchKernel)

struct Table {
#define X(fn) decltype(&::fn) fn = nullptr;
#define XT(fn, type) std::type_identity_t<type> fn = nullptr;
    KCACHE_HIP_ENTRY_POINTS(X, XT)
#undef X
#undef XT
};

Table t;

const char* error_name(int st) {
    const char* s = t.hipGetErrorName ? t.hipGetErrorName(static_cast<hipError_t>(st)) : nullptr;
    return s ? s : "hipErrorUnknown";
}

GpuApi make_api(const char* library) {
    GpuApi a{};
    a.kind = DeviceKind::Hip;
    a.driver = "HIP";
    a.library = library;
    a.device_count = [](int* n) -> int { return t.hipGetDeviceCount(n); };
    a.device_name = [](int o, char* name, int len) -> int {
        return t.hipDeviceGetName(name, len, o);
    };
    a.arch = [](int o, char* buf, int len) -> int {
        // hipGetDeviceProperties as exported under its unversioned name (the layout of the
        // header we build with); gcnArchName is "gfx90a:sramecc+:xnack-": keep the arch.
        hipDeviceProp_t p{};
        if (hipError_t r = t.hipGetDeviceProperties(&p, o))
            return r;
        std::string arch(p.gcnArchName, strnlen(p.gcnArchName, sizeof p.gcnArchName));
        arch = arch.substr(0, arch.find(':'));
        std::snprintf(buf, static_cast<std::size_t>(len), "%s", arch.c_str());
        return 0;
    };
    a.activate = [](int o) -> int { return t.hipSetDevice(o); };
    a.mem_alloc = [](std::uint64_t* p, std::size_t n) -> int {
        void* d = nullptr;
        hipError_t r = t.hipMalloc(&d, n);
        *p = reinterpret_cast<std::uint64_t>(d);
        return r;
    };
    a.mem_free = [](std::uint64_t p) -> int { return t.hipFree(reinterpret_cast<void*>(p)); };
    a.copy_h2d = [](std::uint64_t d, const void* s, std::size_t n, void* st) -> int {
        return t.hipMemcpyHtoDAsync(reinterpret_cast<hipDeviceptr_t>(d), const_cast<void*>(s), n,
                                    static_cast<hipStream_t>(st));
    };
    a.copy_d2h = [](void* d, std::uint64_t s, std::size_t n, void* st) -> int {
        return t.hipMemcpyDtoHAsync(d, reinterpret_cast<hipDeviceptr_t>(s), n,
                                    static_cast<hipStream_t>(st));
    };
    a.copy_d2d = [](std::uint64_t d, std::uint64_t s, std::size_t n, void* st) -> int {
        return t.hipMemcpyDtoDAsync(reinterpret_cast<hipDeviceptr_t>(d),
                                    reinterpret_cast<hipDeviceptr_t>(s), n,
                                    static_cast<hipStream_t>(st));
    };
    a.stream_create = [](void** s) -> int {
        return t.hipStreamCreateWithFlags(reinterpret_cast<hipStream_t*>(s), hipStreamNonBlocking);
    };
    a.stream_destroy = [](void* s) -> int {
        return t.hipStreamDestroy(static_cast<hipStream_t>(s));
    };
    a.stream_synchronize = [](void* s) -> int {
        return t.hipStreamSynchronize(static_cast<hipStream_t>(s));
    };
    a.device_synchronize = []() -> int { return t.hipDeviceSynchronize(); };
    a.event_create = [](void** e) -> int {
        return t.hipEventCreateWithFlags(reinterpret_cast<hipEvent_t*>(e), hipEventDisableTiming);
    };
    a.event_record = [](void* e, void* s) -> int {
        return t.hipEventRecord(static_cast<hipEvent_t>(e), static_cast<hipStream_t>(s));
    };
    a.event_synchronize = [](void* e) -> int {
        return t.hipEventSynchronize(static_cast<hipEvent_t>(e));
    };
    a.event_destroy = [](void* e) -> int { return t.hipEventDestroy(static_cast<hipEvent_t>(e)); };
    a.module_load = [](void** m, const void* image) -> int {
        return t.hipModuleLoadData(reinterpret_cast<hipModule_t*>(m), image);
    };
    a.module_unload = [](void* m) -> int { return t.hipModuleUnload(static_cast<hipModule_t>(m)); };
    a.module_function = [](void** f, void* m, const char* name) -> int {
        return t.hipModuleGetFunction(reinterpret_cast<hipFunction_t*>(f),
                                      static_cast<hipModule_t>(m), name);
    };
    a.launch = [](void* f, const Dim3& g, const Dim3& b, unsigned shared, void* s,
                  void** params) -> int {
        return t.hipModuleLaunchKernel(static_cast<hipFunction_t>(f), g.x, g.y, g.z, b.x, b.y, b.z,
                                       shared, static_cast<hipStream_t>(s), params, nullptr);
    };
    a.error_name = &error_name;
    return a;
}

} // namespace

const GpuApi& hip_api() {
    static const GpuApi* api = []() -> const GpuApi* {
        const char* libs[] = {"libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.5"};
        void* h = nullptr;
        const char* lib = libs[0];
        std::string errors;
        for (const char* l : libs) {
            h = dlopen(l, RTLD_NOW | RTLD_LOCAL);
            if (h) {
                lib = l;
                break;
            }
            errors += std::string(errors.empty() ? "" : "; ") + dlerror();
        }
        if (!h)
            throw RuntimeError("HIP: cannot load the HIP runtime (libamdhip64.so): " + errors +
                               " (no ROCm on this machine?)");
#define X(fn)                                                                                      \
    t.fn = reinterpret_cast<decltype(t.fn)>(dlsym(h, #fn));                                        \
    if (!t.fn)                                                                                     \
        throw RuntimeError(std::string("HIP: ") + lib + " lacks " #fn);
#define XT(fn, type) X(fn)
        KCACHE_HIP_ENTRY_POINTS(X, XT)
#undef XT
#undef X
        if (hipError_t r = t.hipInit(0))
            throw RuntimeError(std::string("HIP: hipInit failed with ") + error_name(r) + " (" +
                               lib + ")");
        static const GpuApi a = make_api(lib);
        return &a;
    }();
    return *api;
}

} // namespace kcache::runtime::detail

#else

namespace kcache::runtime::detail {
const GpuApi& hip_api() {
    throw RuntimeError("HIP: backend compiled out: hip/hip_runtime_api.h was not found at build "
                       "time (apt-get install libamdhip64-dev and rebuild)");
}
} // namespace kcache::runtime::detail

#endif
