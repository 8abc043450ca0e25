// The HIP shim: libamdhip64.so.7, .6, .5 (or $KCACHE_HIP_RUNTIME) loaded with dlopen() on first
// use, its entry points in one X-macro table, normalised into detail::GpuApi (the same table the
// CUDA shim fills). Types come from hip/hip_runtime_api.h (Debian's libamdhip64-dev, ROCm 5.2) at
// build time; without it the backend is compiled out and says so.
//
// Versioned symbols are bound by their explicit names, as the CUDA shim binds `_v2`: ROCm 6
// #defines hipGetDeviceProperties to hipGetDevicePropertiesR0600, whose struct has another
// layout than the unversioned export's. Both layouts are declared here, independent of the header
// the build found, so that one binary reads gcnArchName right on ROCm 5, 6 and 7.
#include "runtime/drivers/gpu/driver_library.hpp"
#include "runtime/drivers/gpu/gpu_api.hpp"
#include "runtime/errors.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>

#if KCACHE_HAVE_HIP_H
#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

namespace kcache::runtime::detail {
namespace {

// hipDeviceProp_t of ROCm 5 (hipDeviceProp_tR0000 in ROCm >= 6), up to gcnArchName, the one field
// read. Later ROCm 5 releases appended fields: `rest` leaves them room.
struct HipDevicePropR0000 {
    char name[256];
    std::size_t totalGlobalMem, sharedMemPerBlock;
    int regsPerBlock, warpSize, maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3], clockRate,
        memoryClockRate, memoryBusWidth;
    std::size_t totalConstMem;
    int major, minor, multiProcessorCount, l2CacheSize, maxThreadsPerMultiProcessor, computeMode,
        clockInstructionRate;
    unsigned arch; // hipDeviceArch_t: 32 bits of feature flags
    int concurrentKernels, pciDomainID, pciBusID, pciDeviceID;
    std::size_t maxSharedMemoryPerMultiProcessor;
    int isMultiGpuBoard, canMapHostMemory, gcnArch;
    char gcnArchName[256];
    unsigned char rest[1024];
};

// hipDeviceProp_tR0600 (ROCm >= 6; still the layout of ROCm 7), up to gcnArchName.
struct HipDevicePropR0600 {
    char name[256], uuid[16], luid[8];
    unsigned luidDeviceNodeMask;
    std::size_t totalGlobalMem, sharedMemPerBlock;
    int regsPerBlock, warpSize;
    std::size_t memPitch;
    int maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3], clockRate;
    std::size_t totalConstMem;
    int major, minor;
    std::size_t textureAlignment, texturePitchAlignment;
    int deviceOverlap, multiProcessorCount, kernelExecTimeoutEnabled, integrated, canMapHostMemory,
        computeMode, maxTexture1D, maxTexture1DMipmap, maxTexture1DLinear, maxTexture2D[2],
        maxTexture2DMipmap[2], maxTexture2DLinear[3], maxTexture2DGather[2], maxTexture3D[3],
        maxTexture3DAlt[3], maxTextureCubemap, maxTexture1DLayered[2], maxTexture2DLayered[3],
        maxTextureCubemapLayered[2], maxSurface1D, maxSurface2D[2], maxSurface3D[3],
        maxSurface1DLayered[2], maxSurface2DLayered[3], maxSurfaceCubemap,
        maxSurfaceCubemapLayered[2];
    std::size_t surfaceAlignment;
    int concurrentKernels, ECCEnabled, pciBusID, pciDeviceID, pciDomainID, tccDriver,
        asyncEngineCount, unifiedAddressing, memoryClockRate, memoryBusWidth, l2CacheSize,
        persistingL2CacheMaxSize, maxThreadsPerMultiProcessor, streamPrioritiesSupported,
        globalL1CacheSupported, localL1CacheSupported;
    std::size_t sharedMemPerMultiprocessor;
    int regsPerMultiprocessor, managedMemory, isMultiGpuBoard, multiGpuBoardGroupID,
        hostNativeAtomicSupported, singleToDoublePrecisionPerfRatio, pageableMemoryAccess,
        concurrentManagedAccess, computePreemptionSupported, canUseHostPointerForRegisteredMem,
        cooperativeLaunch, cooperativeMultiDeviceLaunch;
    std::size_t sharedMemPerBlockOptin;
    int pageableMemoryAccessUsesHostPageTables, directManagedMemAccessFromHost,
        maxBlocksPerMultiProcessor, accessPolicyMaxWindowSize;
    std::size_t reservedSharedMemPerBlock;
    int hostRegisterSupported, sparseHipArraySupported, hostRegisterReadOnlySupported,
        timelineSemaphoreInteropSupported, memoryPoolsSupported, gpuDirectRDMASupported;
    unsigned gpuDirectRDMAFlushWritesOptions;
    int gpuDirectRDMAWritesOrdering;
    unsigned memoryPoolSupportedHandleTypes;
    int deferredMappingHipArraySupported, ipcEventSupported, clusterLaunch, unifiedFunctionPointers,
        reserved[63], hipReserved[32];
    char gcnArchName[256];
    unsigned char rest[1024];
};
// Checked against ROCm 6.2's hip_runtime_api.h and hip_deprecated.h.
static_assert(offsetof(HipDevicePropR0000, gcnArchName) == 396);
static_assert(offsetof(HipDevicePropR0600, gcnArchName) == 1160);

using GetPropertiesR0000 = hipError_t (*)(HipDevicePropR0000*, int);
using GetPropertiesR0600 = hipError_t (*)(HipDevicePropR0600*, int);

// Entry points bound by their own (unversioned) name, with the header's prototype.
#define KCACHE_HIP_ENTRY_POINTS(X, XT)                                                             \
    X(hipInit)                                                                                     \
    X(hipRuntimeGetVersion)                                                                        \
    X(hipGetErrorName)                                                                             \
    X(hipGetErrorString)                                                                           \
    X(hipGetDeviceCount)                                                                           \
    X(hipDeviceGetName)                                                                            \
    X(hipDeviceGetAttribute)                                                                       \
    X(hipGetDevice)                                                                                \
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
    X(hipEventQuery)                                                                               \
    X(hipEventSynchronize)                                                                         \
    X(hipEventDestroy)                                                                             \
    X(hipModuleLoadData)                                                                           \
    X(hipModuleUnload)                                                                             \
    X(hipModuleGetFunction)                                                                        \
    X(hipFuncGetAttribute)                                                                         \
    X(hipModuleLaunchKernel)

struct Table {
#define X(fn) decltype(&::fn) fn = nullptr;
#define XT(fn, type) std::type_identity_t<type> fn = nullptr;
    KCACHE_HIP_ENTRY_POINTS(X, XT)
#undef X
#undef XT
    // Exactly one of the two is bound: R0600 where the runtime exports it (ROCm >= 6).
    GetPropertiesR0600 get_properties_r0600 = nullptr;
    GetPropertiesR0000 get_properties_r0000 = nullptr;
};

Table t;

// HIP_VERSION: major * 10^7 + minor * 10^5 + patch. Code object v5 (what kcache's AMDGPU target
// emits) is loaded by ROCr and ROCclr from ROCm 5.2 on; ROCm 5.1's loader rejects it.
constexpr int kFirstVersionWithCodeObjectV5 = 50200000;
std::string unusable_reason;

const char* error_name(int st) {
    const char* s = t.hipGetErrorName ? t.hipGetErrorName(static_cast<hipError_t>(st)) : nullptr;
    return s ? s : "hipErrorUnknown";
}

const char* error_string(int st) {
    const char* s =
        t.hipGetErrorString ? t.hipGetErrorString(static_cast<hipError_t>(st)) : nullptr;
    return s ? s : "unknown error";
}

StatusKind classify(int st) {
    switch (static_cast<hipError_t>(st)) {
    case hipSuccess:
        return StatusKind::Ok;
    case hipErrorNotReady:
        return StatusKind::NotReady;
    case hipErrorNoDevice:
        return StatusKind::NoDevice;
    case hipErrorDeinitialized:
        return StatusKind::Deinitialized;
    // A kernel fault leaves the device's queues in error: every later call fails.
    case hipErrorIllegalAddress:
    case hipErrorLaunchTimeOut:
    case hipErrorAssert:
    case hipErrorLaunchFailure:
    case hipErrorPriorLaunchFailure:
        return StatusKind::ContextLost;
    default:
        return StatusKind::Error;
    }
}

int init() {
    if (hipError_t r = t.hipInit(0)) {
        // Without a GPU, ROCm 5.2's hipInit says hipErrorInvalidDevice; the device count tells
        // "no device" from a runtime that fails.
        int n = 0;
        hipError_t c = t.hipGetDeviceCount(&n);
        return c == hipErrorNoDevice || (c == hipSuccess && n == 0) ? hipErrorNoDevice : r;
    }
    return hipSuccess;
}

int arch(int o, char* buf, int len) {
    // gcnArchName is "gfx90a:sramecc+:xnack-": keep the processor.
    const char* name = nullptr;
    std::size_t size = 0;
    HipDevicePropR0600 p6;
    HipDevicePropR0000 p5;
    if (t.get_properties_r0600) {
        std::memset(&p6, 0, sizeof p6);
        if (hipError_t r = t.get_properties_r0600(&p6, o))
            return r;
        name = p6.gcnArchName, size = sizeof p6.gcnArchName;
    } else {
        std::memset(&p5, 0, sizeof p5);
        if (hipError_t r = t.get_properties_r0000(&p5, o))
            return r;
        name = p5.gcnArchName, size = sizeof p5.gcnArchName;
    }
    std::string arch(name, strnlen(name, size));
    arch = arch.substr(0, arch.find(':'));
    std::snprintf(buf, static_cast<std::size_t>(len), "%s", arch.c_str());
    return hipSuccess;
}

int attribute(std::uint32_t* out, hipDeviceAttribute_t a, int o) {
    // The values used here are the same in ROCm 5 and 6+ (both keep the CUDA-compatible range).
    int v = 0;
    hipError_t r = t.hipDeviceGetAttribute(&v, a, o);
    *out = v < 0 ? 0 : static_cast<std::uint32_t>(v);
    return r;
}

int device_limits(int o, DeviceLimits* l) {
    const std::pair<std::uint32_t*, hipDeviceAttribute_t> queries[] = {
        {&l->max_threads_per_block, hipDeviceAttributeMaxThreadsPerBlock},
        {&l->max_block[0], hipDeviceAttributeMaxBlockDimX},
        {&l->max_block[1], hipDeviceAttributeMaxBlockDimY},
        {&l->max_block[2], hipDeviceAttributeMaxBlockDimZ},
        {&l->max_grid[0], hipDeviceAttributeMaxGridDimX},
        {&l->max_grid[1], hipDeviceAttributeMaxGridDimY},
        {&l->max_grid[2], hipDeviceAttributeMaxGridDimZ},
        {&l->shared_per_block, hipDeviceAttributeMaxSharedMemoryPerBlock},
    };
    for (auto [out, a] : queries)
        if (int r = attribute(out, a, o))
            return r;
    l->shared_per_block_optin = l->shared_per_block; // AMD GPUs need no opt-in
    return hipSuccess;
}

// Device `o` current for the call; the thread's previous device is put back afterwards (HIP
// cannot tell "never set" from device 0, so it is always restored).
int enter(int o, void** restore) {
    *restore = nullptr;
    int current = 0;
    if (hipError_t r = t.hipGetDevice(&current))
        return r;
    if (current == o) [[likely]]
        return hipSuccess;
    if (hipError_t r = t.hipSetDevice(o))
        return r;
    *restore = reinterpret_cast<void*>(static_cast<std::uintptr_t>(current) + 1);
    return hipSuccess;
}

int leave(void* restore) {
    return t.hipSetDevice(static_cast<int>(reinterpret_cast<std::uintptr_t>(restore) - 1));
}

int function_limits(void* f, int o, FunctionLimits* l) {
    auto fn = static_cast<hipFunction_t>(f);
    int threads = 0, shared = 0;
    hipError_t r = t.hipFuncGetAttribute(&threads, HIP_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn);
    if (r == hipSuccess)
        r = t.hipFuncGetAttribute(&shared, HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn);
    if (r != hipSuccess) {
        if (classify(r) != StatusKind::Error)
            return r;
        // A runtime that cannot say: the device's limits apply (the artifact gives the static
        // shared memory).
        std::uint32_t device_threads = 0;
        if (int d = attribute(&device_threads, hipDeviceAttributeMaxThreadsPerBlock, o))
            return d;
        threads = static_cast<int>(device_threads), shared = 0;
    }
    l->max_threads_per_block = static_cast<std::uint32_t>(threads < 0 ? 0 : threads);
    l->static_shared_bytes = static_cast<std::uint32_t>(shared < 0 ? 0 : shared);
    l->max_dynamic_shared_bytes = UINT32_MAX; // bounded by the device's limit only
    return hipSuccess;
}

GpuApi make_api(const char* library) {
    GpuApi a{};
    a.driver = "HIP";
    a.target = "amdgpu";
    a.library = library;
    a.unusable_reason = unusable_reason.empty() ? nullptr : unusable_reason.c_str();
    a.init = &init;
    a.device_count = [](int* n) -> int { return t.hipGetDeviceCount(n); };
    a.device_name = [](int o, char* name, int len) -> int {
        return t.hipDeviceGetName(name, len, o);
    };
    a.arch = &arch;
    a.device_limits = &device_limits;
    a.enter = &enter;
    a.leave = &leave;
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
        return t.hipEventCreateWithFlags(reinterpret_cast<hipEvent_t*>(e),
                                         hipEventBlockingSync | hipEventDisableTiming);
    };
    a.event_record = [](void* e, void* s) -> int {
        return t.hipEventRecord(static_cast<hipEvent_t>(e), static_cast<hipStream_t>(s));
    };
    a.event_query = [](void* e) -> int { return t.hipEventQuery(static_cast<hipEvent_t>(e)); };
    a.event_synchronize = [](void* e) -> int {
        return t.hipEventSynchronize(static_cast<hipEvent_t>(e));
    };
    a.event_destroy = [](void* e) -> int { return t.hipEventDestroy(static_cast<hipEvent_t>(e)); };
    a.module_load = [](void** m, const void* image, const LoadLog&) -> int {
        // hipModuleLoadDataEx ignores its options (ROCm 5.2's header says so): no JIT log.
        return t.hipModuleLoadData(reinterpret_cast<hipModule_t*>(m), image);
    };
    a.module_unload = [](void* m) -> int { return t.hipModuleUnload(static_cast<hipModule_t>(m)); };
    a.module_function = [](void** f, void* m, const char* name) -> int {
        return t.hipModuleGetFunction(reinterpret_cast<hipFunction_t*>(f),
                                      static_cast<hipModule_t>(m), name);
    };
    a.function_limits = &function_limits;
    a.set_dynamic_shared = [](void*, std::uint32_t) -> int {
        return hipSuccess; // nothing to opt in to: launches are checked against the device limit
    };
    a.launch = [](void* f, const Dim3& g, const Dim3& b, unsigned shared, void* s,
                  void** params) -> int {
        return t.hipModuleLaunchKernel(static_cast<hipFunction_t>(f), g.x, g.y, g.z, b.x, b.y, b.z,
                                       shared, static_cast<hipStream_t>(s), params, nullptr);
    };
    a.error_name = &error_name;
    a.error_string = &error_string;
    a.classify = &classify;
    return a;
}

} // namespace

const GpuApi& hip_api() {
    static std::mutex mutex;
    static const GpuApi* loaded = nullptr; // set once, under the mutex
    std::lock_guard lock(mutex);
    if (loaded)
        return *loaded;
    // Never freed: devices may call the runtime during exit, after every other static is gone.
    static const DriverLibrary* lib = new DriverLibrary(open_driver_library(
        "HIP", {"libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so"},
        "KCACHE_HIP_RUNTIME"));
#define X(fn) t.fn = reinterpret_cast<decltype(t.fn)>(lib->require("HIP", #fn));
#define XT(fn, type) X(fn)
    KCACHE_HIP_ENTRY_POINTS(X, XT)
#undef XT
#undef X
    t.get_properties_r0600 =
        reinterpret_cast<GetPropertiesR0600>(lib->find("hipGetDevicePropertiesR0600"));
    if (!t.get_properties_r0600)
        t.get_properties_r0000 =
            reinterpret_cast<GetPropertiesR0000>(lib->require("HIP", "hipGetDeviceProperties"));
    int version = 0;
    if (t.hipRuntimeGetVersion(&version) == hipSuccess && version < kFirstVersionWithCodeObjectV5)
        unusable_reason = "the HIP runtime " + std::to_string(version / 10000000) + "." +
                          std::to_string(version / 100000 % 100) +
                          " cannot load code object v5, which kcache's AMDGPU target emits: "
                          "ROCm 5.2 or newer is needed";
    static const GpuApi api = make_api(lib->path.c_str());
    loaded = &api;
    return api;
}

} // namespace kcache::runtime::detail

#else

namespace kcache::runtime::detail {
const GpuApi& hip_api() {
    throw DriverUnavailableError(
        "HIP: backend compiled out: hip/hip_runtime_api.h was not found at build time (apt-get "
        "install libamdhip64-dev and rebuild)");
}
} // namespace kcache::runtime::detail

#endif
