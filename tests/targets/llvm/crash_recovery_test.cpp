// Containment of LLVM crashes (targets/llvm/crash_recovery.hpp): fatal errors, aborts, faults and
// stack overflows inside a region become values, the process goes on; LLVM input that backends
// crash on becomes a LoweringCrashError naming kernel, module, target and LLVM's message, or is
// rejected up front (another target's intrinsics, floating-point types GPUs cannot lower).
#include "kernels.hpp"

#include "targets/llvm/crash_recovery.hpp"
#include "targets/llvm/isolated_context.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Support/CrashRecoveryContext.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <gtest/gtest.h>

#include <csignal>
#include <latch>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KCACHE_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define KCACHE_TEST_TSAN 1
#endif
#ifndef KCACHE_TEST_TSAN
#define KCACHE_TEST_TSAN 0
#endif

namespace kcache::test {
namespace {

using detail::run_contained;

void skip_without_recovery() {
    if (!detail::crash_recovery_enabled())
        GTEST_SKIP() << "crash recovery is turned off (KCACHE_CRASH_RECOVERY=0)";
}

// A real fault, without undefined behaviour UBSan would stop at first: a store to a page that
// allows no access.
void fault() {
    static void* const page = ::mmap(nullptr, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)),
                                     PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *static_cast<volatile int*>(page) = 1;
}

// Recursion the optimiser cannot turn into a loop: each frame keeps a live buffer.
[[gnu::noinline]] int overflow_stack(int depth) {
    volatile char frame[512];
    frame[0] = static_cast<char>(depth);
    return overflow_stack(depth + 1) + frame[0];
}

// The first region of a process (ctest runs each test in a process of its own), on a thread
// with an alternate signal stack of its own smaller than LLVM's minimum, as a sanitizer runtime
// gives every thread: LLVM's signal handlers are registered then, and the thread keeps its own
// stack. Were LLVM's put in its place, AddressSanitizer would abort at the thread's exit trying
// to unmap it.
TEST(CrashRecovery, TheFirstRegionLeavesTheThreadItsOwnSignalStack) {
    std::thread([] {
        constexpr std::size_t kBytes = 16 * 1024;
        static char own_stack[kBytes];
        stack_t own{}, previous{};
        own.ss_sp = own_stack;
        own.ss_size = kBytes;
        ASSERT_EQ(sigaltstack(&own, &previous), 0);
        (void)run_contained(nullptr, [] {});
        stack_t now{};
        ASSERT_EQ(sigaltstack(nullptr, &now), 0);
        EXPECT_EQ(now.ss_sp, own_stack);
        EXPECT_EQ(now.ss_size, kBytes);
        EXPECT_FALSE(now.ss_flags & SS_DISABLE);
        previous.ss_flags &= SS_DISABLE;
        sigaltstack(&previous, nullptr); // the sanitizer's own again, for the thread's exit
    }).join();
}

TEST(CrashRecovery, FatalErrorsAbortsFaultsAndStackOverflowsAreContained) {
    skip_without_recovery();
    auto fatal = run_contained(nullptr, [] { llvm::report_fatal_error("kcache test: fatal"); });
    ASSERT_TRUE(fatal);
    EXPECT_EQ(fatal->signal, 0);
    EXPECT_EQ(fatal->describe(), "kcache test: fatal");

    auto aborted = run_contained(nullptr, [] { std::abort(); });
    ASSERT_TRUE(aborted);
    EXPECT_EQ(aborted->signal, SIGABRT);
    EXPECT_NE(aborted->describe().find("SIGABRT"), std::string::npos);

    auto faulted = run_contained(nullptr, [] { fault(); });
    ASSERT_TRUE(faulted);
    EXPECT_EQ(faulted->signal, SIGSEGV);

    auto overflow = run_contained(nullptr, [] { overflow_stack(0); });
    ASSERT_TRUE(overflow);
    EXPECT_EQ(overflow->signal, SIGSEGV);

    // And the thread goes on: regions that return, and exceptions that pass through one.
    int ran = 0;
    EXPECT_FALSE(run_contained(nullptr, [&] { ran = 1; }));
    EXPECT_EQ(ran, 1);
    EXPECT_THROW((void)run_contained(nullptr, [] { throw LoweringError("thrown inside"); }),
                 LoweringError);
}

TEST(CrashRecovery, NestedRegionsRecoverTheInnermost) {
    skip_without_recovery();
    bool inner_crashed = false;
    auto outer = run_contained(nullptr, [&] {
        inner_crashed =
            run_contained(nullptr, [] { llvm::report_fatal_error("inner"); }).has_value();
    });
    EXPECT_TRUE(inner_crashed);
    EXPECT_FALSE(outer);
    // A recovery context of LLVM's own inside a region (lld opens one) recovers its crashes.
    bool inner_ok = true;
    auto around_llvm_context = run_contained(nullptr, [&] {
        llvm::CrashRecoveryContext inner;
        inner_ok = inner.RunSafely([] { llvm::report_fatal_error("lld-like"); });
    });
    EXPECT_FALSE(inner_ok);
    EXPECT_FALSE(around_llvm_context);
#if !KCACHE_TEST_TSAN // LLVM's own longjmp out of a signal handler is one TSan cannot follow
    int inner_code = 0;
    around_llvm_context = run_contained(nullptr, [&] {
        llvm::CrashRecoveryContext inner;
        inner_ok = inner.RunSafely([] { std::abort(); });
        inner_code = inner.RetCode;
    });
    EXPECT_FALSE(inner_ok);
    EXPECT_EQ(inner_code, 128 + SIGABRT);
    EXPECT_FALSE(around_llvm_context);
#endif
    auto crashed_after_inner = run_contained(nullptr, [] {
        (void)run_contained(nullptr, [] {});
        llvm::report_fatal_error("outer");
    });
    ASSERT_TRUE(crashed_after_inner);
    EXPECT_EQ(crashed_after_inner->message, "outer");
}

TEST(CrashRecovery, TheContextOfACrashIsAbandonedNotDestroyed) {
    skip_without_recovery();
    IsolatedContext crashed, fine;
    EXPECT_FALSE(run_contained(&fine.get(), [] {}));
    EXPECT_TRUE(run_contained(&crashed.get(), [] { llvm::report_fatal_error("x"); }));
    EXPECT_TRUE(crashed.abandoned());
    EXPECT_FALSE(fine.abandoned());
}

TEST(CrashRecovery, ThreadsCrashAndRecoverIndependently) {
    skip_without_recovery();
    constexpr int kThreads = 4, kRounds = 25;
    std::latch start(kThreads);
    std::vector<int> wrong(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait(); // all threads in their regions at once
            for (int i = 0; i < kRounds; ++i) {
                const int kind = (i + t) % 3;
                auto crash = run_contained(nullptr, [&] {
                    if (kind == 0)
                        llvm::report_fatal_error(llvm::Twine("thread ") + llvm::Twine(t));
                    if (kind == 1)
                        std::abort();
                });
                const bool right = kind == 2 ? !crash
                                   : kind == 0
                                       ? crash && crash->message == "thread " + std::to_string(t)
                                       : crash && crash->signal == SIGABRT;
                wrong[t] += !right;
            }
        });
    for (auto& th : threads)
        th.join();
    for (int t = 0; t < kThreads; ++t)
        EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST(CrashRecoveryDeathTest, ACrashOutsideAnyRegionStillEndsTheProcess) {
    skip_without_recovery();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            (void)run_contained(nullptr, [] {}); // the handlers are installed
            fault();
        },
        "");
}

// --- LLVM input that backends crash on --------------------------------------------------------

// Checks a contained crash of `spec`'s backend on `ir`, then that a good kernel still compiles.
void expect_contained_crash(const std::string& ir, const TargetSpec& spec,
                            const std::string& llvm_says) {
    {
        Compilation c(ir);
        c.module->setModuleIdentifier("k(::Ptr{Float32})");
        try {
            spec.kind.target().compile(*c.module, "k", spec);
            ADD_FAILURE() << "compiled for " << to_string(spec);
        } catch (const LoweringCrashError& e) {
            const TargetSpec resolved = spec.kind.target().resolve(spec);
            EXPECT_EQ(e.stage(), "codegen");
            EXPECT_EQ(e.function(), "k");
            EXPECT_EQ(e.module(), "k(::Ptr{Float32})");
            EXPECT_EQ(e.target(), to_string(resolved));
            EXPECT_EQ(e.signal(), 0);
            EXPECT_NE(e.llvm_message().find(llvm_says), std::string::npos) << e.llvm_message();
            const std::string what = e.what();
            for (const std::string& part : {std::string("@k"), std::string("k(::Ptr{Float32})"),
                                            to_string(resolved), llvm_says})
                EXPECT_NE(what.find(part), std::string::npos) << part << " in: " << what;
            EXPECT_TRUE(c.ctx.abandoned());
        }
    }
    Artifact good = compile(kVectorAdd, "vadd", spec);
    EXPECT_FALSE(good.bytes.empty()) << to_string(spec);
}

TEST(LoweringCrash, AnIntrinsicTheArchLacksIsContainedOnNvptx) {
    skip_without_recovery();
    expect_contained_crash(R"(
declare void @llvm.nvvm.barrier.cluster.arrive()
define void @k(ptr addrspace(1) %p) {
  call void @llvm.nvvm.barrier.cluster.arrive()
  ret void
})",
                           {TargetKind::nvptx(), "sm_80", 2},
                           "Cannot select: intrinsic %llvm.nvvm.barrier.cluster.arrive");
}

TEST(LoweringCrash, AnIntrinsicTheArchLacksIsContainedOnAmdgpu) {
    skip_without_recovery();
    expect_contained_crash(R"(
declare <4 x float> @llvm.amdgcn.mfma.f32.4x4x1f32(float, float, <4 x float>, i32, i32, i32)
define void @k(ptr addrspace(1) %p) {
  %v = load <4 x float>, ptr addrspace(1) %p
  %r = call <4 x float> @llvm.amdgcn.mfma.f32.4x4x1f32(float 1.0, float 2.0, <4 x float> %v, i32 0, i32 0, i32 0)
  store <4 x float> %r, ptr addrspace(1) %p
  ret void
})",
                           {TargetKind::amdgpu(), "gfx900", 2},
                           "Cannot select: intrinsic %llvm.amdgcn.mfma");
}

TEST(LoweringCrash, AnIntrinsicTheCpuLacksIsContainedOnTheHost) {
    skip_without_recovery();
    if (llvm::Triple(llvm::sys::getProcessTriple()).getArch() != llvm::Triple::x86_64)
        GTEST_SKIP() << "the crashing input is an x86 intrinsic";
    expect_contained_crash(R"(
declare <16 x float> @llvm.x86.avx512.rcp14.ps.512(<16 x float>, <16 x float>, i16)
define void @k(ptr addrspace(1) %p) {
  %v = load <16 x float>, ptr addrspace(1) %p
  %r = call <16 x float> @llvm.x86.avx512.rcp14.ps.512(<16 x float> %v, <16 x float> %v, i16 -1)
  store <16 x float> %r, ptr addrspace(1) %p
  ret void
})",
                           {TargetKind::host(), "x86-64", 2}, "Do not know how to split");
}

// --- rejected before LLVM sees it -------------------------------------------------------------

void expect_rejected(const std::string& ir, const TargetSpec& spec, const std::string& needle,
                     const std::string& symbol = "k") {
    Compilation c(ir);
    try {
        spec.kind.target().prepare(*c.module, "k", spec);
        ADD_FAILURE() << "accepted for " << to_string(spec);
    } catch (const LoweringCrashError& e) {
        ADD_FAILURE() << "reached the backend: " << e.what();
    } catch (const LoweringError& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        EXPECT_EQ(e.function(), symbol);
    }
    EXPECT_FALSE(c.ctx.abandoned());
}

TEST(LoweringCrash, AnotherTargetsIntrinsicsAreRejectedUpFront) {
    expect_rejected(R"(
declare float @llvm.nvvm.sqrt.f(float)
define void @k(ptr addrspace(1) %p) {
  %x = load float, ptr addrspace(1) %p
  %y = call float @llvm.nvvm.sqrt.f(float %x)
  store float %y, ptr addrspace(1) %p
  ret void
})",
                    {TargetKind::amdgpu(), "gfx90a", 2},
                    "@k calls @llvm.nvvm.sqrt.f, an intrinsic of another target (llvm.nvvm.*)",
                    "llvm.nvvm.sqrt.f");
    const std::string amdgcn = R"(
declare void @llvm.amdgcn.s.barrier()
define void @k(ptr addrspace(1) %p) {
  call void @llvm.amdgcn.s.barrier()
  ret void
})";
    expect_rejected(amdgcn, {TargetKind::nvptx(), "sm_80", 2}, "@k calls @llvm.amdgcn.s.barrier",
                    "llvm.amdgcn.s.barrier");
    expect_rejected(amdgcn, {TargetKind::host(), "", 2}, "another target (llvm.amdgcn.*)",
                    "llvm.amdgcn.s.barrier");
    expect_rejected(R"(
declare void @llvm.kcache.no.such.thing()
define void @k(ptr addrspace(1) %p) {
  call void @llvm.kcache.no.such.thing()
  ret void
})",
                    {TargetKind::nvptx(), "sm_80", 2}, "is not an intrinsic of LLVM",
                    "llvm.kcache.no.such.thing");
    // An unused declaration is harmless: nothing calls it.
    Compilation c("declare float @llvm.nvvm.sqrt.f(float)\n" + std::string(kVectorAdd));
    EXPECT_NO_THROW(TargetKind::amdgpu().target().compile(*c.module, "vadd",
                                                          {TargetKind::amdgpu(), "gfx90a", 2}));
}

TEST(LoweringCrash, WideFloatsAreRejectedOnGpusAndCompiledOnTheHost) {
    const std::string fp128 = R"(
define void @k(i32 %a, i32 %b, ptr addrspace(1) %p) {
  %x = sitofp i32 %a to fp128
  %y = sitofp i32 %b to fp128
  %z = fdiv fp128 %x, %y
  %r = fptosi fp128 %z to i32
  store i32 %r, ptr addrspace(1) %p
  ret void
})";
    for (TargetSpec spec : {TargetSpec{TargetKind::nvptx(), "sm_80", 2},
                            TargetSpec{TargetKind::amdgpu(), "gfx90a", 2}}) {
        expect_rejected(fp128, spec, "@k computes with fp128, which");
        std::string x86 = fp128;
        for (std::size_t at; (at = x86.find("fp128")) != std::string::npos;)
            x86.replace(at, 5, "x86_fp80");
        expect_rejected(x86, spec, "x86_fp80");
        // Hidden in an aggregate, or in a global.
        expect_rejected(R"(
define void @k(ptr addrspace(1) %p) {
  %v = load { i32, [2 x ppc_fp128] }, ptr addrspace(1) %p
  store { i32, [2 x ppc_fp128] } %v, ptr addrspace(1) %p
  ret void
})",
                        spec, "ppc_fp128");
        Compilation g("@g = addrspace(1) global fp128 0xL0\n"
                      "define void @k() {\n  ret void\n}\n");
        EXPECT_THROW(spec.kind.target().prepare(*g.module, "k", spec), LoweringError);
    }
    Artifact host = compile(fp128, "k", {TargetKind::host(), "", 2});
    EXPECT_FALSE(host.bytes.empty());
}

} // namespace
} // namespace kcache::test
