// libkcache_fake_cuda.so: the fake CUDA driver of tests/runtime/drivers/cuda/fake_cuda.hpp. Every
// entry point is defined with cuda.h's own prototype (so the versioned names, cuMemAlloc_v2 and the
// like, come from the header's #defines, as they do for the real driver). State lives behind one
// mutex; the current context is per thread, as in CUDA.
#include "fake_cuda.hpp"

#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

constexpr int kMaxDevices = 4;
constexpr int kSharedPerBlock = 48 * 1024;
constexpr int kSharedOptin = 227 * 1024;

// The handle types cuda.h declares (at global scope).
struct CUctx_st {
    int device = -1; // -1: another library's context
};
struct CUmod_st {
    CUctx_st* context = nullptr;
    std::string image; // the bytes loaded, to find kernel names in
    bool loaded = true;
};
struct CUfunc_st {
    CUmod_st* module = nullptr;
    std::string name;
    int max_dynamic_shared = kSharedPerBlock;
};
struct CUstream_st {
    CUctx_st* context = nullptr;
};
struct CUevent_st {
    CUstream_st* stream = nullptr; // nullptr until recorded
    std::uint64_t seq = 0;         // the last work on the stream when recorded
};

namespace {

using kcache::test::FakeCudaControl;

FakeCudaControl control;

struct Work {
    std::uint64_t seq;
    CUstream_st* stream;
    CUmod_st* module;
};

CUctx_st primary[kMaxDevices] = {{0}, {1}, {2}, {3}};
CUctx_st foreign;
CUstream_st legacy_stream; // the NULL stream
thread_local CUctx_st* current = nullptr;

std::mutex mutex; // everything below
std::condition_variable changed;
std::vector<Work> pending;
std::uint64_t next_seq = 1;
CUresult sticky = CUDA_SUCCESS;
bool deinitialized = false;
std::set<CUmod_st*> modules;
std::set<CUfunc_st*> functions;
std::set<CUstream_st*> streams;
std::set<CUevent_st*> events;
std::map<CUdeviceptr, std::unique_ptr<unsigned char[]>> allocations;
// Owners of every stream, module and function ever made: handles stay valid (and recognisably
// stale) after they are destroyed or unloaded, as the sets above say, and nothing leaks at exit.
std::deque<std::unique_ptr<CUstream_st>> kept_streams;
std::deque<std::unique_ptr<CUmod_st>> kept_modules;
std::deque<std::unique_ptr<CUfunc_st>> kept_functions;

template <class T>
T* keep(std::deque<std::unique_ptr<T>>& owner, std::unique_ptr<T> object) {
    owner.push_back(std::move(object));
    return owner.back().get();
}

CUstream_st* stream_of(CUstream s) {
    return s ? s : &legacy_stream;
}

bool stream_idle(CUstream_st* s, std::uint64_t up_to = UINT64_MAX) {
    return std::none_of(pending.begin(), pending.end(),
                        [&](const Work& w) { return w.stream == s && w.seq <= up_to; });
}

// Blocks (counted as a waiter) until `idle` holds; the caller holds `lock`.
template <class Idle>
void wait_idle(std::unique_lock<std::mutex>& lock, Idle idle) {
    if (idle())
        return;
    ++control.blocked_waiters;
    changed.notify_all();
    changed.wait(lock, idle);
    --control.blocked_waiters;
    changed.notify_all();
}

// The checks at the start of a call that needs a context: deinitialisation, a lost context, a
// foreign context (counted: a real driver would act on the wrong device).
CUresult enter_context(CUctx_st** ctx = nullptr) {
    if (deinitialized)
        return CUDA_ERROR_DEINITIALIZED;
    if (sticky != CUDA_SUCCESS) {
        ++control.calls_after_fault;
        return sticky;
    }
    if (!current)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (current->device < 0)
        ++control.foreign_context_calls;
    if (ctx)
        *ctx = current;
    return CUDA_SUCCESS;
}

CUresult device_check(CUdevice d) {
    if (deinitialized)
        return CUDA_ERROR_DEINITIALIZED;
    return d >= 0 && d < std::min(control.device_count.load(), kMaxDevices)
               ? CUDA_SUCCESS
               : CUDA_ERROR_INVALID_DEVICE;
}

// How many bytes an ELF image spans (the driver gets no size).
std::size_t elf_size(const unsigned char* p) {
    std::uint64_t shoff = 0, phoff = 0;
    std::uint16_t shentsize = 0, shnum = 0, phentsize = 0, phnum = 0;
    std::memcpy(&phoff, p + 0x20, 8);
    std::memcpy(&shoff, p + 0x28, 8);
    std::memcpy(&phentsize, p + 0x36, 2);
    std::memcpy(&phnum, p + 0x38, 2);
    std::memcpy(&shentsize, p + 0x3a, 2);
    std::memcpy(&shnum, p + 0x3c, 2);
    return std::max<std::size_t>(
        {64, shoff + std::size_t(shentsize) * shnum, phoff + std::size_t(phentsize) * phnum});
}

void write_log(char* buffer, unsigned size, const char* text) {
    if (buffer && size)
        std::snprintf(buffer, size, "%s", text);
}

void release() {
    std::lock_guard lock(mutex);
    pending.clear();
    changed.notify_all();
}

bool wait_until(bool (*predicate)(), int seconds) {
    // What the predicates look at changes under the mutex, which notifies `changed`.
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(seconds), predicate);
}

void reset() {
    std::lock_guard lock(mutex);
    current = nullptr; // the calling thread's
    pending.clear();
    sticky = CUDA_SUCCESS;
    deinitialized = false;
    control.device_count = 1;
    for (int i = 0; i < kMaxDevices; ++i)
        control.cc_major[i] = 9, control.cc_minor[i] = 0;
    control.function_max_threads = 1024;
    control.init_result = 0;
    control.reject_cubin = control.reject_ptx = false;
    control.fail_event_create = control.fail_event_record = false;
    control.fault_next_launch = 0;
    control.hold = false;
    for (auto* counter :
         {&control.launches, &control.module_loads, &control.module_unloads,
          &control.unsafe_unloads, &control.foreign_context_calls, &control.calls_after_fault,
          &control.event_creates, &control.context_synchronizes, &control.dynamic_shared_opt_ins})
        *counter = 0;
    for (CUmod_st* m : modules) // left by earlier tests (a lost context's): forgotten
        m->loaded = false;
    control.live_modules = 0;
    control.event_flags = control.last_launch_shared = control.last_jit_options = -1;
    changed.notify_all();
}

struct Init {
    Init() {
        control.release = &release;
        control.wait_until = &wait_until;
        control.make_foreign_context_current = [] { current = &foreign; };
        control.foreign_context_is_current = [] { return current == &foreign; };
        control.deinitialize = [] {
            std::lock_guard lock(mutex);
            deinitialized = true;
            pending.clear();
            changed.notify_all();
        };
        control.reset = &reset;
    }
} init;

} // namespace

extern "C" {

kcache::test::FakeCudaControl* kcache_fake_cuda_control() {
    return &control;
}

// --- initialisation, errors, devices ----------------------------------------------------------

CUresult CUDAAPI cuInit(unsigned int) {
    std::lock_guard lock(mutex);
    return deinitialized ? CUDA_ERROR_DEINITIALIZED
                         : static_cast<CUresult>(control.init_result.load());
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char** name) {
    switch (error) {
#define NAME(e)                                                                                    \
    case e:                                                                                        \
        *name = #e;                                                                                \
        return CUDA_SUCCESS;
        NAME(CUDA_SUCCESS)
        NAME(CUDA_ERROR_INVALID_VALUE)
        NAME(CUDA_ERROR_OUT_OF_MEMORY)
        NAME(CUDA_ERROR_DEINITIALIZED)
        NAME(CUDA_ERROR_NO_DEVICE)
        NAME(CUDA_ERROR_INVALID_DEVICE)
        NAME(CUDA_ERROR_INVALID_CONTEXT)
        NAME(CUDA_ERROR_NO_BINARY_FOR_GPU)
        NAME(CUDA_ERROR_INVALID_PTX)
        NAME(CUDA_ERROR_INVALID_HANDLE)
        NAME(CUDA_ERROR_NOT_FOUND)
        NAME(CUDA_ERROR_NOT_READY)
        NAME(CUDA_ERROR_ILLEGAL_ADDRESS)
        NAME(CUDA_ERROR_LAUNCH_FAILED)
#undef NAME
    default:
        *name = nullptr;
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char** text) {
    *text = error == CUDA_ERROR_ILLEGAL_ADDRESS ? "an illegal memory access was encountered"
                                                : "fake libcuda error";
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int* count) {
    std::lock_guard lock(mutex);
    if (deinitialized)
        return CUDA_ERROR_DEINITIALIZED;
    if (control.init_result != 0)
        return CUDA_ERROR_NOT_INITIALIZED;
    *count = std::min(control.device_count.load(), kMaxDevices);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice* device, int ordinal) {
    std::lock_guard lock(mutex);
    if (CUresult r = device_check(ordinal))
        return r;
    *device = ordinal;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char* name, int len, CUdevice d) {
    std::lock_guard lock(mutex);
    if (CUresult r = device_check(d))
        return r;
    std::snprintf(name, static_cast<std::size_t>(len), "kcache fake CUDA device %d", d);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice d) {
    std::lock_guard lock(mutex);
    if (CUresult r = device_check(d))
        return r;
    switch (a) { // an H200's
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
        *v = control.cc_major[d];
        break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
        *v = control.cc_minor[d];
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X:
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y:
        *v = 1024;
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z:
        *v = 64;
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X:
        *v = 2147483647;
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y:
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z:
        *v = 65535;
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK:
        *v = kSharedPerBlock;
        break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
        *v = kSharedOptin;
        break;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

// --- contexts --------------------------------------------------------------------------------

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice d) {
    std::lock_guard lock(mutex);
    if (CUresult r = device_check(d))
        return r;
    *ctx = &primary[d];
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext* ctx) {
    std::lock_guard lock(mutex);
    if (deinitialized)
        return CUDA_ERROR_DEINITIALIZED;
    *ctx = current;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx) {
    std::lock_guard lock(mutex);
    if (deinitialized)
        return CUDA_ERROR_DEINITIALIZED;
    current = ctx;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize() {
    std::unique_lock lock(mutex);
    if (CUresult r = enter_context())
        return r;
    ++control.context_synchronizes;
    wait_idle(lock, [] { return pending.empty() || deinitialized; });
    return deinitialized ? CUDA_ERROR_DEINITIALIZED : sticky;
}

// --- memory ----------------------------------------------------------------------------------

CUresult CUDAAPI cuMemAlloc(CUdeviceptr* p, size_t bytes) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    auto block = std::make_unique<unsigned char[]>(bytes + 256);
    // 256-byte aligned, as cuMemAlloc's are.
    auto address = (reinterpret_cast<CUdeviceptr>(block.get()) + 255) & ~CUdeviceptr(255);
    allocations.emplace(address, std::move(block));
    *p = address;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr p) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    return allocations.erase(p) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult copy(void* dst, const void* src, size_t n, CUstream s) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (s && !streams.count(s))
        return CUDA_ERROR_INVALID_HANDLE;
    std::memmove(dst, src, n); // launches compute nothing: copying now is in stream order
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoDAsync(CUdeviceptr dst, const void* src, size_t n, CUstream s) {
    return copy(reinterpret_cast<void*>(dst), src, n, s);
}
CUresult CUDAAPI cuMemcpyDtoHAsync(void* dst, CUdeviceptr src, size_t n, CUstream s) {
    return copy(dst, reinterpret_cast<const void*>(src), n, s);
}
CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    return copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, s);
}

// --- streams and events ----------------------------------------------------------------------

CUresult CUDAAPI cuStreamCreate(CUstream* s, unsigned int) {
    std::lock_guard lock(mutex);
    CUctx_st* ctx = nullptr;
    if (CUresult r = enter_context(&ctx))
        return r;
    *s = keep(kept_streams, std::make_unique<CUstream_st>(CUstream_st{ctx}));
    streams.insert(*s);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamDestroy(CUstream s) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!streams.erase(s))
        return CUDA_ERROR_INVALID_HANDLE;
    // As CUDA: returns at once; work still queued completes later. The stream object stays for
    // that work (and the events that refer to it).
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream s) {
    std::unique_lock lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (s && !streams.count(s))
        return CUDA_ERROR_INVALID_HANDLE;
    CUstream_st* st = stream_of(s);
    wait_idle(lock, [st] { return stream_idle(st) || deinitialized; });
    return deinitialized ? CUDA_ERROR_DEINITIALIZED : sticky;
}

CUresult CUDAAPI cuEventCreate(CUevent* e, unsigned int flags) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    control.event_flags = static_cast<int>(flags);
    if (control.fail_event_create)
        return CUDA_ERROR_OUT_OF_MEMORY;
    ++control.event_creates;
    *e = new CUevent_st;
    events.insert(*e);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventRecord(CUevent e, CUstream s) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!events.count(e) || (s && !streams.count(s)))
        return CUDA_ERROR_INVALID_HANDLE;
    if (control.fail_event_record)
        return CUDA_ERROR_INVALID_HANDLE;
    e->stream = stream_of(s);
    e->seq = next_seq - 1;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventQuery(CUevent e) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!events.count(e))
        return CUDA_ERROR_INVALID_HANDLE;
    return !e->stream || stream_idle(e->stream, e->seq) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult CUDAAPI cuEventSynchronize(CUevent e) {
    std::unique_lock lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!events.count(e))
        return CUDA_ERROR_INVALID_HANDLE;
    if (e->stream)
        wait_idle(lock, [e] { return stream_idle(e->stream, e->seq) || deinitialized; });
    return deinitialized ? CUDA_ERROR_DEINITIALIZED : sticky;
}

CUresult CUDAAPI cuEventDestroy(CUevent e) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!events.erase(e))
        return CUDA_ERROR_INVALID_HANDLE;
    delete e;
    return CUDA_SUCCESS;
}

// --- modules and launches --------------------------------------------------------------------

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule* m, const void* image, unsigned int n,
                                    CUjit_option* options, void** values) {
    std::lock_guard lock(mutex);
    CUctx_st* ctx = nullptr;
    if (CUresult r = enter_context(&ctx))
        return r;
    control.last_jit_options = static_cast<int>(n);
    char* error_log = nullptr;
    unsigned error_size = 0;
    for (unsigned i = 0; i < n; ++i) {
        if (options[i] == CU_JIT_ERROR_LOG_BUFFER)
            error_log = static_cast<char*>(values[i]);
        else if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
            error_size = static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(values[i]));
    }
    const auto* bytes = static_cast<const unsigned char*>(image);
    std::string copy;
    if (std::memcmp(bytes,
                    "\x7f"
                    "ELF",
                    4) == 0) {
        if (control.reject_cubin) {
            write_log(error_log, error_size,
                      "fake libcuda: this cubin is for another GPU (injected rejection)");
            return CUDA_ERROR_NO_BINARY_FOR_GPU;
        }
        copy.assign(reinterpret_cast<const char*>(bytes), elf_size(bytes));
    } else {
        copy = static_cast<const char*>(image);
        if (control.reject_ptx || copy.find(".entry") == std::string::npos) {
            write_log(error_log, error_size, "ptxas fatal: fake libcuda rejects this PTX");
            return CUDA_ERROR_INVALID_PTX;
        }
    }
    auto* mod = keep(kept_modules, std::make_unique<CUmod_st>(CUmod_st{ctx, std::move(copy)}));
    modules.insert(mod);
    *m = mod;
    ++control.module_loads;
    ++control.live_modules;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule m) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!modules.count(m) || !m->loaded)
        return CUDA_ERROR_INVALID_HANDLE;
    if (std::any_of(pending.begin(), pending.end(), [m](const Work& w) { return w.module == m; }))
        ++control.unsafe_unloads;
    m->loaded = false; // kept (never reused) so that a stale handle is recognised
    ++control.module_unloads;
    --control.live_modules;
    changed.notify_all();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!modules.count(m) || !m->loaded)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!*name || m->image.find(name) == std::string::npos)
        return CUDA_ERROR_NOT_FOUND;
    auto* fn = keep(kept_functions, std::make_unique<CUfunc_st>(CUfunc_st{m, name}));
    functions.insert(fn);
    *f = fn;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int* v, CUfunction_attribute a, CUfunction f) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!functions.count(f))
        return CUDA_ERROR_INVALID_HANDLE;
    switch (a) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
        *v = control.function_max_threads;
        return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
        *v = 0;
        return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        *v = f->max_dynamic_shared;
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
    std::lock_guard lock(mutex);
    if (CUresult r = enter_context())
        return r;
    if (!functions.count(f))
        return CUDA_ERROR_INVALID_HANDLE;
    if (a != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES || v < 0 || v > kSharedOptin)
        return CUDA_ERROR_INVALID_VALUE;
    f->max_dynamic_shared = v;
    ++control.dynamic_shared_opt_ins;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                unsigned by, unsigned bz, unsigned shared, CUstream s, void**,
                                void**) {
    std::lock_guard lock(mutex);
    CUctx_st* ctx = nullptr;
    if (CUresult r = enter_context(&ctx))
        return r;
    if (!functions.count(f) || !f->module->loaded || (s && !streams.count(s)))
        return CUDA_ERROR_INVALID_HANDLE;
    if (f->module->context != ctx || (s && s->context != ctx))
        return CUDA_ERROR_INVALID_CONTEXT;
    const unsigned long long threads = 1ull * bx * by * bz;
    if (!gx || !gy || !gz || !threads || threads > unsigned(control.function_max_threads) ||
        bz > 64 || gy > 65535 || gz > 65535 || int(shared) > f->max_dynamic_shared)
        return CUDA_ERROR_INVALID_VALUE;
    ++control.launches;
    control.last_launch_shared = static_cast<int>(shared);
    if (control.hold)
        pending.push_back({next_seq++, stream_of(s), f->module});
    if (int fault = control.fault_next_launch.exchange(0))
        sticky = static_cast<CUresult>(fault); // the kernel faults: the context is lost
    if (const char* nth = std::getenv("KCACHE_FAKE_CUDA_FAULT_AT_LAUNCH"))
        if (control.launches == std::atoi(nth))
            sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
    changed.notify_all();
    return CUDA_SUCCESS;
}

} // extern "C"
