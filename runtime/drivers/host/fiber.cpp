#include "runtime/drivers/host/fiber.hpp"

#include "runtime/errors.hpp"

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <boost/context/stack_traits.hpp>

#include <exception>
#include <string>

// GCC says which sanitizer instruments this file with __SANITIZE_*__, clang with __has_feature.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace kcache::runtime::detail {

namespace ctx = boost::context::detail;

namespace {

// fcontext switches are one-way: the resumed side learns where the other side was suspended
// from the transfer it receives, and writes it back into that side's FiberContext.
struct Jump {
    FiberContext* from;
    FiberContext* to;
};

// --- sanitizer annotations (no code outside sanitizer builds) --------------------------------

void tsan_created(FiberContext& c) {
#if defined(__SANITIZE_THREAD__)
    c.tsan = __tsan_create_fiber(0);
    c.tsan_owned = true;
#else
    (void)c;
#endif
}

void tsan_switching(FiberContext& from, FiberContext& to) {
#if defined(__SANITIZE_THREAD__)
    if (!from.tsan)
        from.tsan = __tsan_get_current_fiber(); // the thread's own context, not ours to free
    __tsan_switch_to_fiber(to.tsan, 0);
#else
    (void)from, (void)to;
#endif
}

void tsan_released(FiberContext& c) noexcept {
#if defined(__SANITIZE_THREAD__)
    if (c.tsan_owned)
        __tsan_destroy_fiber(c.tsan);
#endif
    c.tsan = nullptr;
    c.tsan_owned = false;
}

// Before leaving a stack: where `to` runs. `fake_stack` keeps this side's fake stack (for
// use-after-return detection) until it is resumed.
void asan_leaving(void** fake_stack, const FiberContext& to) {
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_start_switch_fiber(fake_stack, to.stack_bottom, to.stack_size);
#else
    (void)fake_stack, (void)to;
#endif
}

// After arriving on a stack: records the bounds of the stack just left into its context (the
// only way to learn the thread's own stack).
void asan_arrived(void* fake_stack, FiberContext& from) {
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(fake_stack, &from.stack_bottom, &from.stack_size);
#else
    (void)fake_stack, (void)from;
#endif
}

[[noreturn]] void fiber_start(ctx::transfer_t t) {
    auto* jump = static_cast<Jump*>(t.data);
    jump->from->fcontext = t.fctx;
    asan_arrived(nullptr, *jump->from);
    FiberContext& self = *jump->to;
    self.entry(self.arg);
    std::terminate(); // entry never returns: it switches away for good (see fiber_init)
}

} // namespace

FiberStack::FiberStack(std::size_t bytes) {
    try {
        context_ = boost::context::protected_fixedsize_stack(bytes).allocate();
    } catch (const std::exception& e) {
        throw RuntimeError("host device: cannot map a fiber stack of " + std::to_string(bytes) +
                           " bytes: " + e.what());
    }
}

FiberStack::~FiberStack() {
    boost::context::protected_fixedsize_stack(context_.size).deallocate(context_);
}

// The mapping holds the guard page at its bottom, then the usable stack up to sp.
std::size_t FiberStack::size() const {
    return context_.size - boost::context::stack_traits::page_size();
}

const void* FiberStack::bottom() const {
    return static_cast<const char*>(context_.sp) - size();
}

void fiber_init(FiberContext& c, FiberStack& stack, void (*entry)(void*), void* arg) {
    c.entry = entry;
    c.arg = arg;
    c.stack_bottom = stack.bottom();
    c.stack_size = stack.size();
    c.fcontext = ctx::make_fcontext(stack.top(), stack.size(), &fiber_start);
    tsan_created(c);
}

void fiber_switch(FiberContext& from, FiberContext& to) {
    Jump jump{&from, &to};
    void* fake_stack = nullptr;
    asan_leaving(&fake_stack, to);
    tsan_switching(from, to);
    const ctx::transfer_t t = ctx::jump_fcontext(to.fcontext, &jump);
    // Resumed by whoever switched back here: record where that side was suspended.
    auto* back = static_cast<Jump*>(t.data);
    back->from->fcontext = t.fctx;
    asan_arrived(fake_stack, *back->from);
}

void fiber_release(FiberContext& c) noexcept {
    tsan_released(c);
    c.fcontext = nullptr;
}

} // namespace kcache::runtime::detail
