// User-mode fibers for the host device, over Boost.Context's fcontext: a context switch saves
// and restores the callee-saved registers and floating-point control words only (no signal
// mask and no system call, unlike glibc's swapcontext), on x86-64 and aarch64 alike. Switches
// are annotated for ThreadSanitizer and AddressSanitizer, which would otherwise lose track of
// the stacks.
// Thread-safety: a fiber runs on one thread at a time; switching is the caller's business.
#pragma once

#include <boost/context/stack_context.hpp>

#include <cstddef>

namespace kcache::runtime::detail {

/// A stack with a guard page below it (Boost.Context's protected_fixedsize_stack). Move-only.
class FiberStack {
public:
    explicit FiberStack(std::size_t bytes);
    ~FiberStack();
    FiberStack(const FiberStack&) = delete;
    FiberStack& operator=(const FiberStack&) = delete;
    /// The lowest usable address (above the guard page) and the usable size.
    const void* bottom() const;
    std::size_t size() const;
    void* top() const { return context_.sp; }

private:
    boost::context::stack_context context_;
};

/// A saved execution context: a fiber's, or the thread's own (the scheduler's) once it has
/// switched to a fiber. Filled in by fiber_init and fiber_switch.
struct FiberContext {
    void* fcontext = nullptr; // boost::context::detail::fcontext_t while suspended
    void (*entry)(void*) = nullptr;
    void* arg = nullptr;
    // The stack this context runs on, for AddressSanitizer (the thread's own stack is learnt at
    // its first switch).
    const void* stack_bottom = nullptr;
    std::size_t stack_size = 0;
    // ThreadSanitizer's view of this context (TSan builds only). `tsan_owned`: created here,
    // destroyed on release.
    void* tsan = nullptr;
    bool tsan_owned = false;
};

/// Prepares `ctx` so that switching to it runs `entry(arg)` on `stack`; `entry` must never
/// return (it switches away for good instead).
void fiber_init(FiberContext& ctx, FiberStack& stack, void (*entry)(void*), void* arg);
/// Saves the current context into `from` and resumes `to`.
void fiber_switch(FiberContext& from, FiberContext& to);
void fiber_release(FiberContext& ctx) noexcept;

} // namespace kcache::runtime::detail
