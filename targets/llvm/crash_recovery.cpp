#include "targets/llvm/crash_recovery.hpp"

#include "core/excerpt.hpp"
#include "core/log.hpp"
#include "targets/llvm/isolated_context.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Support/CrashRecoveryContext.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/Support/Signals.h>

#include <algorithm>
#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define KCACHE_HAS_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define KCACHE_HAS_LSAN 1
#endif
#if defined(KCACHE_HAS_LSAN)
#include <sanitizer/lsan_interface.h>
#endif

namespace kcache::detail {
namespace {

// One open region of this thread: where to jump, and what the crash was.
struct Region {
    sigjmp_buf jump;
    const llvm::CrashRecoveryContext* crc = nullptr;
    LlvmCrash crash;
};

thread_local Region* current_region = nullptr;

constexpr int kSignals[] = {SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
struct sigaction original_action[NSIG]; // the process's own, before LLVM's and ours

// This thread's region when it is the innermost recovery context. lld opens a
// CrashRecoveryContext of its own inside our region; a crash in there is lld's to recover.
Region* innermost_region() {
    Region* r = current_region;
    return r && llvm::CrashRecoveryContext::GetCurrent() == r->crc ? r : nullptr;
}

void on_signal(int signal, siginfo_t* info, void* ucontext) {
    if (Region* r = innermost_region()) {
        r->crash.signal = signal;
        siglongjmp(r->jump, 1); // restores the signal mask sigsetjmp saved
    }
    if (llvm::CrashRecoveryContext* inner = llvm::CrashRecoveryContext::GetCurrent()) {
        // A context of LLVM's own inside ours (lld's): recover it as LLVM's handler would.
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, signal);
        pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
        inner->HandleExit(128 + signal);
    }
    // Outside any region: a crash of the program's own. Put back the handlers the process had
    // before kcache and LLVM installed theirs (crash recovery is over for this process), remove
    // the files LLVM was asked to, and let the signal reach the process's handler with its
    // original information: a fault happens again when this returns; a sent signal, or a trap
    // (execution would go on after it), is sent again.
    for (int s : kSignals)
        sigaction(s, &original_action[s], nullptr);
    llvm::sys::RunInterruptHandlers();
    if ((info->si_code <= 0 || signal == SIGTRAP) &&
        syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), signal, info) != 0)
        raise(signal);
    (void)ucontext;
}

void on_fatal_error(void*, const char* reason, bool) {
    if (Region* r = innermost_region()) {
        r->crash.message = reason;
        siglongjmp(r->jump, 1);
    }
    if (llvm::CrashRecoveryContext* inner = llvm::CrashRecoveryContext::GetCurrent())
        inner->HandleExit(1); // lld's context: lld reports the failure itself
    // Outside any region: say what LLVM says without a handler; LLVM then ends the process.
    const std::string line = std::string("LLVM ERROR: ") + reason + "\n";
    [[maybe_unused]] auto written = ::write(2, line.data(), line.size());
}

bool enabled_by_environment() {
    const char* v = std::getenv("KCACHE_CRASH_RECOVERY");
    if (!v || !*v)
        return true;
    const std::string_view s(v);
    if (s == "0" || s == "off" || s == "false")
        return false;
    if (s != "1" && s != "on" && s != "true")
        log().warn("KCACHE_CRASH_RECOVERY='{}' is not 0/off/false or 1/on/true; crash recovery "
                   "stays on",
                   excerpt(s));
    return true;
}

// LLVM installs its signal handlers once per process, the first time anything asks it to remove
// a file on a signal (lld's output does) or to call a handler. The thread that asks gets an
// alternate signal stack malloc'ed by LLVM (MINSIGSTKSZ + 64 KiB) unless it already has one at
// least that large, and LLVM never takes it back. A sanitizer runtime that gave the thread its
// own stack then unmaps LLVM's when the thread exits and aborts ("unable to unmap"). So kcache
// has LLVM register while the thread holds a borrowed stack large enough for LLVM to leave
// alone, and gives the thread its own stack back afterwards: no thread ever carries LLVM's.
void register_llvm_signal_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        const std::size_t bytes = std::max<std::size_t>(256 * 1024, MINSIGSTKSZ + 128 * 1024);
        void* memory =
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        stack_t borrowed{};
        borrowed.ss_sp = memory;
        borrowed.ss_size = bytes;
        stack_t own{};
        const bool swapped = memory != MAP_FAILED && sigaltstack(&borrowed, &own) == 0;
        llvm::sys::AddSignalHandler([](void*) {}, nullptr);
        if (swapped) {
            own.ss_flags &= SS_DISABLE; // SS_ONSTACK is a report, not a setting
            sigaltstack(&own, nullptr);
        }
        if (memory != MAP_FAILED)
            ::munmap(memory, bytes);
    });
}

// Installs the handlers once per process; false when recovery is turned off.
bool install() {
    static const bool installed = [] {
        // Also with recovery off: lld would otherwise register LLVM's handlers on whichever
        // thread links first.
        register_llvm_signal_handlers();
        if (!enabled_by_environment())
            return false;
        for (int signal : kSignals)
            sigaction(signal, nullptr, &original_action[signal]);
        llvm::CrashRecoveryContext::Enable();
        // LLVM's handlers are in place (above); ours go on top of them.
        llvm::install_fatal_error_handler(on_fatal_error, nullptr);
        struct sigaction action {};
        action.sa_sigaction = on_signal;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        for (int signal : kSignals)
            sigaction(signal, &action, nullptr);
        return true;
    }();
    return installed;
}

// An alternate signal stack for this thread, unless it has one, so that a stack overflow in a
// region can still run the handler. Removed when the thread ends.
class AltStack {
public:
    AltStack() {
        stack_t current{};
        if (sigaltstack(nullptr, &current) != 0 || !(current.ss_flags & SS_DISABLE))
            return;
        memory_ = std::make_unique<char[]>(kBytes);
        stack_t mine{};
        mine.ss_sp = memory_.get();
        mine.ss_size = kBytes;
        if (sigaltstack(&mine, nullptr) != 0)
            memory_.reset();
    }
    ~AltStack() {
        if (!memory_)
            return;
        stack_t current{};
        if (sigaltstack(nullptr, &current) == 0 && current.ss_sp == memory_.get()) {
            stack_t off{};
            off.ss_flags = SS_DISABLE;
            sigaltstack(&off, nullptr);
        }
    }
    AltStack(const AltStack&) = delete;
    AltStack& operator=(const AltStack&) = delete;

private:
    static constexpr std::size_t kBytes = 64 * 1024;
    std::unique_ptr<char[]> memory_;
};

// LeakSanitizer does not check what is allocated while alive (see the header).
class LeakCheckPause {
public:
#if defined(KCACHE_HAS_LSAN)
    LeakCheckPause() {
        __lsan_disable();
    }
    ~LeakCheckPause() {
        __lsan_enable();
    }
#else
    LeakCheckPause() = default;
#endif
    LeakCheckPause(const LeakCheckPause&) = delete;
    LeakCheckPause& operator=(const LeakCheckPause&) = delete;
};

const char* signal_name(int signal) {
    switch (signal) {
    case SIGABRT:
        return "SIGABRT (abort)";
    case SIGBUS:
        return "SIGBUS (bus error)";
    case SIGFPE:
        return "SIGFPE (arithmetic exception)";
    case SIGILL:
        return "SIGILL (illegal instruction)";
    case SIGSEGV:
        return "SIGSEGV (segmentation fault)";
    case SIGTRAP:
        return "SIGTRAP (trap)";
    default:
        return "an unexpected signal";
    }
}

} // namespace

std::string LlvmCrash::describe() const {
    if (signal == 0)
        return message;
    return std::string("signal ") + signal_name(signal);
}

bool crash_recovery_enabled() {
    return install();
}

std::optional<LlvmCrash> run_contained(llvm::LLVMContext* ctx, llvm::function_ref<void()> fn) {
    if (!install()) {
        fn();
        return std::nullopt;
    }
    thread_local AltStack alt_stack;
    Region region;
    Region* const outer = current_region;
    std::exception_ptr error;
    bool crashed = false;
    {
        LeakCheckPause pause;
        llvm::CrashRecoveryContext crc;
        region.crc = &crc;
        current_region = &region;
        if (sigsetjmp(region.jump, 1) == 0) {
            // RunSafely returns false only if LLVM's own handler took the crash (a handler put
            // back over ours); its return code still tells a signal from an exit.
            crashed = !crc.RunSafely([&] {
                try {
                    fn();
                } catch (...) {
                    error = std::current_exception(); // thrown on outside the region
                }
            });
            if (crashed && region.crash.message.empty() && crc.RetCode > 128)
                region.crash.signal = crc.RetCode - 128;
        } else {
            crashed = true;
        }
        current_region = outer;
    } // the CrashRecoveryContext is closed here either way
    if (error)
        std::rethrow_exception(error);
    if (!crashed)
        return std::nullopt;
    if (ctx)
        abandon(*ctx);
    return std::move(region.crash);
}

void contain(llvm::LLVMContext* ctx, std::string_view stage, const CompileSubject& subject,
             llvm::function_ref<void()> fn) {
    if (auto crash = run_contained(ctx, fn))
        throw LoweringCrashError(std::string(stage), subject.kernel, subject.module, subject.target,
                                 crash->describe(), crash->signal);
}

} // namespace kcache::detail
