// The control panel of the fake CUDA driver (libkcache_fake_cuda.so, tests only): a driver that
// implements every entry point kcache binds well enough for allocations, copies, module loads and
// launches to go through (memory is host memory; a launch runs nothing but is recorded as work on
// its stream), and that injects, on request, what a real driver rarely shows.
//
// kcache loads it instead of libcuda.so.1 when KCACHE_CUDA_DRIVER names it. A test reaches this
// panel with dlsym(handle, "kcache_fake_cuda_control"). Settings are read at call time.
// Thread-safety: every field and action is safe to use from any thread.
#pragma once

#include <atomic>

namespace kcache::test {

struct FakeCudaControl {
    // --- what the driver reports ------------------------------------------------------------
    std::atomic<int> device_count{1};
    /// Compute capability of each device (at most 4): 9.0, an H200, unless set.
    std::atomic<int> cc_major[4] = {9, 9, 9, 9};
    std::atomic<int> cc_minor[4] = {0, 0, 0, 0};
    /// CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK of every function (a kernel's register pressure).
    std::atomic<int> function_max_threads{1024};

    // --- faults -------------------------------------------------------------------------------
    /// cuInit's result (e.g. CUDA_ERROR_NO_DEVICE).
    std::atomic<int> init_result{0};
    /// Module loads of a cubin (an ELF image) fail with CUDA_ERROR_NO_BINARY_FOR_GPU and a JIT
    /// error log; of PTX, with CUDA_ERROR_INVALID_PTX.
    std::atomic<bool> reject_cubin{false};
    std::atomic<bool> reject_ptx{false};
    std::atomic<bool> fail_event_create{false};
    std::atomic<bool> fail_event_record{false};
    /// The next launch succeeds, then its kernel "faults": the context is lost with this sticky
    /// error (e.g. CUDA_ERROR_ILLEGAL_ADDRESS), which every later context call returns. (Without
    /// this panel, e.g. in a program that does not know it loads the fake, the environment
    /// variable KCACHE_FAKE_CUDA_FAULT_AT_LAUNCH=N makes the N-th launch fault that way.)
    std::atomic<int> fault_next_launch{0};
    /// Launched work stays pending (events not reached, synchronisation blocks) until release().
    std::atomic<bool> hold{false};

    // --- what happened -------------------------------------------------------------------------
    std::atomic<int> launches{0};
    std::atomic<int> module_loads{0};   ///< successful loads
    std::atomic<int> module_unloads{0}; ///< successful unloads
    std::atomic<int> live_modules{0};
    /// Modules unloaded while launched work that uses them was still pending: what would crash
    /// a real GPU. Must stay 0.
    std::atomic<int> unsafe_unloads{0};
    /// Calls made while a context other than the device's primary context was current.
    std::atomic<int> foreign_context_calls{0};
    std::atomic<int> calls_after_fault{0}; ///< context calls answered with the sticky error
    std::atomic<int> event_creates{0};
    std::atomic<int> event_flags{-1}; ///< flags of the last cuEventCreate
    std::atomic<int> context_synchronizes{0};
    std::atomic<int> dynamic_shared_opt_ins{0}; ///< cuFuncSetAttribute(MAX_DYNAMIC_SHARED...)
    std::atomic<int> last_launch_shared{-1};    ///< sharedMemBytes of the last launch
    std::atomic<int> last_jit_options{-1};      ///< options passed to the last cuModuleLoadDataEx
    /// Threads blocked in a synchronisation on pending work.
    std::atomic<int> blocked_waiters{0};

    // --- actions ------------------------------------------------------------------------------
    /// Completes every pending launch.
    void (*release)() = nullptr;
    /// Waits until `predicate` holds or `seconds` pass (a condition variable, woken on every
    /// change of the driver's state); returns whether it holds. The predicate may read this
    /// panel's counters, and must call nothing of the driver.
    bool (*wait_until)(bool (*predicate)(), int seconds) = nullptr;
    /// Makes another library's context current on the calling thread.
    void (*make_foreign_context_current)() = nullptr;
    bool (*foreign_context_is_current)() = nullptr;
    /// From now on every call returns CUDA_ERROR_DEINITIALIZED, as at process exit.
    void (*deinitialize)() = nullptr;
    /// Back to a healthy driver: no faults, nothing pending, counters at zero.
    void (*reset)() = nullptr;
};

} // namespace kcache::test

extern "C" kcache::test::FakeCudaControl* kcache_fake_cuda_control();
