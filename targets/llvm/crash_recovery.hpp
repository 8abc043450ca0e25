// Containment of LLVM crashes. LLVM answers some input by ending the process: a fatal error
// ("LLVM ERROR: Cannot select: intrinsic %llvm.nvvm.sqrt.f"), an abort, or a fault in a backend.
// kcache runs every call that hands LLVM (or lld, or nvJitLink) input it did not make itself --
// parsing, verifying, linking, optimising, code generation, the final link -- in a recovery
// region: a crash inside becomes a LoweringCrashError naming the kernel, its method instance,
// the target and LLVM's message, and the process goes on compiling.
//
// How: as clang's in-process compiler, under llvm::CrashRecoveryContext (enabled once per
// process, so that lld's own recovery and LLVM's exit paths find a context), with a fatal-error
// handler that captures LLVM's message. LLVM's own signal handlers (which lld's first link would
// install) are installed at the same time, so that kcache's stay on top of them, and in a way
// that leaves no thread with an alternate signal stack of LLVM's (which a sanitizer runtime would
// try to unmap at the thread's exit). The jump out of a
// crash is taken in kcache's own code (sigsetjmp/siglongjmp), because libLLVM's longjmp is one
// ThreadSanitizer cannot follow. Each thread gets an alternate signal stack on its first region, so
// that even a stack overflow inside LLVM is contained.
//
// What crosses a region. The jump skips every frame between the crash and the region: their
// destructors do not run and what they allocated is abandoned. So a region holds calls into LLVM
// only -- no lock of kcache's is taken inside one (lld's mutex is taken outside its region),
// and kcache's own code runs outside, where a fault of ours is a crash to fix, not one to hide.
// The LLVMContext the work was in is abandoned (see isolated_context.hpp): it and its modules
// are leaked rather than destroyed. Under LeakSanitizer, allocations inside regions are not
// leak-checked, since a contained crash abandons them by design.
//
// Limits: a crash while LLVM holds a lock of its own, or that corrupts the heap, is beyond
// recovery; the process may fail later. The signal handlers are process-wide (SIGABRT, SIGBUS,
// SIGFPE, SIGILL, SIGSEGV, SIGTRAP): a signal outside any region puts back the handlers the
// process had before and reaches them with its original information (a sanitizer reports the
// fault as if kcache were not there); crash recovery is then off for the rest of the process.
// KCACHE_CRASH_RECOVERY=0 turns it off from the start (regions just run; a crash ends the
// process).
//
// Thread-safety: regions on different threads are independent; regions may nest.
#pragma once

#include <llvm/ADT/STLFunctionalExtras.h>

#include <optional>
#include <string>
#include <string_view>

namespace llvm {
class LLVMContext;
} // namespace llvm

namespace kcache::detail {

/// How LLVM crashed.
struct LlvmCrash {
    std::string message; ///< the fatal error's text; empty when a signal ended the work
    int signal = 0;      ///< the signal; 0 for a fatal error
    /// "Cannot select: ..." or "signal SIGSEGV (Segmentation fault)".
    std::string describe() const;
};

/// What a compilation is about, for messages.
struct CompileSubject {
    std::string kernel; ///< the kernel's symbol (may be empty before it is known)
    std::string module; ///< the module's identifier: the method instance, "k(::Ptr{Float32})"
    std::string target; ///< "nvptx:sm_80:O2"; empty before a target is involved
};

/// Runs `fn` in a recovery region; returns how LLVM crashed, or nothing when `fn` returned. An
/// exception `fn` throws propagates (after the region is closed). After a crash, `ctx` (the
/// context LLVM was working in; nullptr for lld and nvJitLink, which have none) is abandoned.
[[nodiscard]] std::optional<LlvmCrash> run_contained(llvm::LLVMContext* ctx,
                                                     llvm::function_ref<void()> fn);

/// run_contained, and a LoweringCrashError for `stage` of `subject` when LLVM crashed.
void contain(llvm::LLVMContext* ctx, std::string_view stage, const CompileSubject& subject,
             llvm::function_ref<void()> fn);

/// Whether regions contain crashes in this process: KCACHE_CRASH_RECOVERY is not 0, and no
/// crash outside a region has turned recovery off.
bool crash_recovery_enabled();

} // namespace kcache::detail
