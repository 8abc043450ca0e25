#include "runtime/fiber.hpp"

#include "runtime/errors.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__)
#include <xmmintrin.h>
// kcache_rt_switch(void** save_sp, void* new_sp): pushes the callee-saved registers and the FP
// control words, saves rsp, loads the other stack and pops the same. kcache_rt_trampoline is
// the first "return address" of a new fiber: it calls r13(r12).
asm(R"(
    .text
    .globl kcache_rt_switch
    .hidden kcache_rt_switch
    .type kcache_rt_switch,@function
kcache_rt_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size kcache_rt_switch, .-kcache_rt_switch

    .globl kcache_rt_trampoline
    .hidden kcache_rt_trampoline
    .type kcache_rt_trampoline,@function
kcache_rt_trampoline:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size kcache_rt_trampoline, .-kcache_rt_trampoline
)");
extern "C" void kcache_rt_switch(void** save_sp, void* new_sp);
extern "C" void kcache_rt_trampoline();
#else
#include <ucontext.h>
#endif

namespace kcache::runtime::detail {

namespace {
// Tells ThreadSanitizer about fiber creation, switches and destruction; no code otherwise.
void tsan_created(FiberContext& ctx) {
#if defined(__SANITIZE_THREAD__)
    ctx.tsan = __tsan_create_fiber(0);
    ctx.tsan_owned = true;
#else
    (void)ctx;
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
void tsan_released(FiberContext& ctx) noexcept {
#if defined(__SANITIZE_THREAD__)
    if (ctx.tsan_owned)
        __tsan_destroy_fiber(ctx.tsan);
#endif
    ctx.tsan = nullptr;
    ctx.tsan_owned = false;
}
} // namespace

FiberStack::FiberStack(std::size_t bytes) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    bytes = (bytes + page - 1) / page * page;
    mapped_ = bytes + page;
    base_ = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base_ == MAP_FAILED)
        throw RuntimeError("host device: cannot map a fiber stack of " + std::to_string(bytes) +
                           " bytes: " + std::strerror(errno));
    mprotect(base_, page, PROT_NONE); // guard page: overflow faults instead of corrupting
    top_ = static_cast<char*>(base_) + mapped_;
}

FiberStack::~FiberStack() {
    if (base_ && base_ != MAP_FAILED)
        munmap(base_, mapped_);
}

#if defined(__x86_64__)

void fiber_init(FiberContext& ctx, FiberStack& stack, void (*entry)(void*), void* arg) {
    auto top = reinterpret_cast<std::uintptr_t>(stack.top()) & ~std::uintptr_t(15);
    auto* sp = reinterpret_cast<std::uint64_t*>(top - 16 - 8 * 8);
    const std::uint32_t mxcsr = _mm_getcsr();
    std::uint16_t fpucw;
    asm volatile("fnstcw %0" : "=m"(fpucw));
    sp[0] = std::uint64_t(mxcsr) | (std::uint64_t(fpucw) << 32);
    sp[1] = 0;                                                      // r15
    sp[2] = 0;                                                      // r14
    sp[3] = reinterpret_cast<std::uint64_t>(entry);                 // r13
    sp[4] = reinterpret_cast<std::uint64_t>(arg);                   // r12
    sp[5] = 0;                                                      // rbx
    sp[6] = 0;                                                      // rbp
    sp[7] = reinterpret_cast<std::uint64_t>(&kcache_rt_trampoline); // return address
    ctx.sp = sp;
    tsan_created(ctx);
}

void fiber_switch(FiberContext& from, FiberContext& to) {
    tsan_switching(from, to);
    kcache_rt_switch(&from.sp, to.sp);
}

void fiber_release(FiberContext& ctx) noexcept {
    tsan_released(ctx);
}

#else

void fiber_init(FiberContext& ctx, FiberStack& stack, void (*entry)(void*), void* arg) {
    auto* uc = new ucontext_t{};
    getcontext(uc);
    uc->uc_stack.ss_sp = static_cast<char*>(stack.top()) - 64 * 1024;
    uc->uc_stack.ss_size = 64 * 1024;
    uc->uc_link = nullptr;
    auto p = reinterpret_cast<std::uintptr_t>(arg);
    makecontext(uc, reinterpret_cast<void (*)()>(entry), 1, p); // LP64 glibc passes 64 bits
    ctx.uc = uc;
    tsan_created(ctx);
}

void fiber_switch(FiberContext& from, FiberContext& to) {
    if (!from.uc)
        from.uc = new ucontext_t{};
    tsan_switching(from, to);
    swapcontext(static_cast<ucontext_t*>(from.uc), static_cast<ucontext_t*>(to.uc));
}

void fiber_release(FiberContext& ctx) noexcept {
    tsan_released(ctx);
    delete static_cast<ucontext_t*>(ctx.uc);
    ctx.uc = nullptr;
}

#endif

} // namespace kcache::runtime::detail
