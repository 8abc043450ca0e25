// Minimal user-mode fibers for the host device: a stack and a saved stack pointer, switched by
// a few instructions of assembly on x86-64 (callee-saved registers, MXCSR and the x87 control
// word; no signal mask, unlike glibc's swapcontext, which makes a system call per switch).
// Other architectures fall back to glibc's ucontext.
// Thread-safety: a fiber runs on one thread at a time; switching is the caller's business.
#pragma once

#include <cstddef>

namespace kcache::runtime::detail {

/// An mmap'ed stack with a guard page below it. Move-only.
class FiberStack {
public:
    explicit FiberStack(std::size_t bytes);
    ~FiberStack();
    FiberStack(const FiberStack&) = delete;
    FiberStack& operator=(const FiberStack&) = delete;
    void* top() const { return top_; }

private:
    void* base_ = nullptr;
    std::size_t mapped_ = 0;
    void* top_ = nullptr;
};

/// A saved execution context.
struct FiberContext {
    void* sp = nullptr;
    // ThreadSanitizer's view of this context (TSan builds only): switches it cannot see would
    // otherwise corrupt its shadow stacks. `tsan_owned`: created here, destroyed on release.
    void* tsan = nullptr;
    bool tsan_owned = false;
#if !defined(__x86_64__)
    void* uc = nullptr; // ucontext_t*, owned
#endif
};

/// Prepares `ctx` so that switching to it runs `entry(arg)` on `stack`; `entry` must never
/// return (it switches away for good instead).
void fiber_init(FiberContext& ctx, FiberStack& stack, void (*entry)(void*), void* arg);
/// Saves the current context into `from` and resumes `to`.
void fiber_switch(FiberContext& from, FiberContext& to);
void fiber_release(FiberContext& ctx) noexcept;

} // namespace kcache::runtime::detail
