// IR methods that LLVM would end the process on, compiled through KernelCompiler::compile: the
// reported cases (another target's intrinsic, fp128 arithmetic on a GPU) are convention errors
// naming the symbol and its line; other backend crashes are contained as LoweringCrashError
// naming kernel, method instance, target and LLVM's message. Nothing is cached either way, and
// the same process goes on compiling and running good kernels, from several threads at once.
#include "host_runner.hpp"
#include "test_util.hpp"

#include "kernels/errors.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "targets/llvm/crash_recovery.hpp"
#include "targets/target_errors.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <latch>
#include <thread>

namespace kcache::test {
namespace {

using namespace kcache::kernels;
using types::Float32;
using types::Int32;
using types::Ptr;

const TargetSpec kSm80{TargetKind::nvptx(), "sm_80", 2};
const TargetSpec kGfx90a{TargetKind::amdgpu(), "gfx90a", 2};
const TargetSpec kGfx900{TargetKind::amdgpu(), "gfx900", 2};
const TargetSpec kHost{TargetKind::host(), "", 2};

// A kernel `name(p::Ptr{Float32})` whose body calls `intrinsic` (declared on line 2).
std::string calling(const std::string& name, const std::string& decl, const std::string& call) {
    return "; calls an intrinsic\n" + decl + "\ndefine void @" + name +
           "(ptr addrspace(1) %p) {\n  %x = load float, ptr addrspace(1) %p\n"
           "  store float %x, ptr addrspace(1) %p\n  " +
           call + "\n  ret void\n}\n";
}

const std::string kNvvmSqrt = "declare float @llvm.nvvm.sqrt.f(float)";
const std::string kAmdgcnBarrier = "declare void @llvm.amdgcn.s.barrier()";
// Needs sm_90: on sm_80 the NVPTX backend cannot select it and ends the process.
const std::string kClusterBarrier = "declare void @llvm.nvvm.barrier.cluster.arrive()";
// Needs an MFMA unit (gfx908 and later): on gfx900 the AMDGPU backend cannot select it.
const std::string kMfma = "declare <4 x float> @llvm.amdgcn.mfma.f32.4x4x1f32(float, float, <4 "
                          "x float>, i32, i32, i32)";
const std::string kMfmaCall = "%m = call <4 x float> @llvm.amdgcn.mfma.f32.4x4x1f32(float %x, "
                              "float %x, <4 x float> zeroinitializer, i32 0, i32 0, i32 0)\n"
                              "  %e = extractelement <4 x float> %m, i32 0\n"
                              "  store float %e, ptr addrspace(1) %p";

struct LoweringCrash : ::testing::Test {
    MethodTable& table = fresh_table("crash");
    KernelCompiler kc{table, "crash"};

    Function& define(const std::function<std::string(const std::string&)>& ir,
                     Signature sig = Signature({Ptr(Float32())})) {
        Function& f = Function::define(unique("k"));
        add_ir_method(table, f, std::move(sig), LlvmIR::text(ir(f.name())));
        return f;
    }
    // A good kernel, compiled for and run on the host: out[0] = 1.
    void expect_a_good_kernel_runs() {
        Function& good = Function::define(unique("good"));
        add_generator(table, good, Signature({Ptr(Float32())}), store_call(nullptr));
        EXPECT_EQ(run_store_kernel(*kc.compile(good, Type::tuple({Ptr(Float32())}), kHost)), 1.0f);
    }
};

TEST_F(LoweringCrash, AnotherTargetsIntrinsicIsAConventionErrorWithItsLine) {
    const Type tt = Type::tuple({Ptr(Float32())});
    struct Case {
        std::string decl, call, symbol;
        TargetSpec spec;
    };
    const Case cases[] = {
        {kNvvmSqrt, "%s = call float @llvm.nvvm.sqrt.f(float %x)", "llvm.nvvm.sqrt.f", kGfx90a},
        {kAmdgcnBarrier, "call void @llvm.amdgcn.s.barrier()", "llvm.amdgcn.s.barrier", kSm80},
        {kAmdgcnBarrier, "call void @llvm.amdgcn.s.barrier()", "llvm.amdgcn.s.barrier", kHost},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.symbol + " on " + to_string(c.spec));
        Function& k = define([&](const std::string& n) { return calling(n, c.decl, c.call); });
        auto e = expect_uncached_error<IRConventionError>(kc, k, tt, c.spec);
        EXPECT_EQ(e.symbol(), c.symbol);
        EXPECT_EQ(e.line(), 2);
        EXPECT_EQ(e.method(), k.name() + "(::Ptr{Float32})");
        const std::string what = e.what();
        EXPECT_NE(what.find("@" + k.name() + " calls @" + c.symbol), std::string::npos) << what;
        EXPECT_NE(what.find("intrinsic of another target"), std::string::npos) << what;
        EXPECT_NE(what.find(std::string(to_string(c.spec.kind)) + " kernels cannot call"),
                  std::string::npos)
            << what;
        EXPECT_NE(what.find("line 2"), std::string::npos) << what;
    }
    expect_a_good_kernel_runs();
}

TEST_F(LoweringCrash, Fp128ArithmeticOnAGpuIsAConventionErrorWithItsLine) {
    const auto ir = [](const std::string& n) {
        return "; fp128 on a GPU\n\ndefine void @" + n +
               "(i32 %a, i32 %b, ptr addrspace(1) %p) {\n"
               "  %x = sitofp i32 %a to fp128\n  %y = sitofp i32 %b to fp128\n"
               "  %z = fdiv fp128 %x, %y\n  %r = fptosi fp128 %z to i32\n"
               "  store i32 %r, ptr addrspace(1) %p\n  ret void\n}\n";
    };
    const Type tt = Type::tuple({Int32(), Int32(), Ptr(Int32())});
    Function& k = define(ir, Signature({Int32(), Int32(), Ptr(Int32())}));
    for (const TargetSpec& spec : {kSm80, kGfx90a}) {
        SCOPED_TRACE(to_string(spec));
        auto e = expect_uncached_error<IRConventionError>(kc, k, tt, spec);
        EXPECT_EQ(e.symbol(), k.name());
        EXPECT_EQ(e.line(), 3);
        EXPECT_NE(std::string(e.what()).find("computes with fp128"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("sitofp i32 %a to fp128"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(std::string(to_string(spec.kind)) + " cannot lower"),
                  std::string::npos)
            << e.what();
    }
    // The host lowers fp128 (through libgcc's routines): the same kernel compiles there.
    EXPECT_NE(kc.compile(k, tt, kHost), nullptr);
    expect_a_good_kernel_runs();
}

// A backend crash no check predicts: a typed error naming everything, nothing cached, and the
// process compiles and runs the next kernel.
TEST_F(LoweringCrash, ABackendCrashIsContainedAndNamesKernelMethodTargetAndMessage) {
    if (!kcache::detail::crash_recovery_enabled())
        GTEST_SKIP() << "crash recovery is turned off (KCACHE_CRASH_RECOVERY=0)";
    const Type tt = Type::tuple({Ptr(Float32())});
    struct Case {
        std::string decl, call;
        TargetSpec spec;
        std::string llvm_says;
    };
    const Case cases[] = {
        {kClusterBarrier, "call void @llvm.nvvm.barrier.cluster.arrive()", kSm80,
         "Cannot select: intrinsic %llvm.nvvm.barrier.cluster.arrive"},
        {kMfma, kMfmaCall, kGfx900, "Cannot select: intrinsic %llvm.amdgcn.mfma"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(to_string(c.spec));
        Function& k = define([&](const std::string& n) { return calling(n, c.decl, c.call); });
        const auto builds_before = kc.stats().compilations;
        auto e = expect_uncached_error<LoweringCrashError>(kc, k, tt, c.spec);
        EXPECT_EQ(kc.stats().compilations, builds_before + 2) << "the second attempt built again";
        EXPECT_EQ(e.function(), k.name());
        EXPECT_EQ(e.module(), k.name() + "(::Ptr{Float32})");
        EXPECT_EQ(e.target(), to_string(c.spec));
        EXPECT_EQ(e.stage(), "codegen");
        EXPECT_NE(e.llvm_message().find(c.llvm_says), std::string::npos) << e.llvm_message();
        const std::string what = e.what();
        for (const std::string& part : {"@" + k.name(), e.module(), e.target(), c.llvm_says})
            EXPECT_NE(what.find(part), std::string::npos) << part << " in: " << what;
        expect_a_good_kernel_runs();
    }
}

// Four threads at once, each mixing kernels that crash the backend with good ones that it
// compiles and runs on the host.
TEST_F(LoweringCrash, ThreadsMixingCrashingAndGoodKernels) {
    if (!kcache::detail::crash_recovery_enabled())
        GTEST_SKIP() << "crash recovery is turned off (KCACHE_CRASH_RECOVERY=0)";
    constexpr int kThreads = 4, kRounds = 4;
    const Type tt = Type::tuple({Ptr(Float32())});
    // One crashing kernel shared by all threads (concurrent misses on it), one per thread.
    Function& shared = define([](const std::string& n) {
        return calling(n, kClusterBarrier, "call void @llvm.nvvm.barrier.cluster.arrive()");
    });
    std::vector<Function*> own, good;
    for (int t = 0; t < kThreads; ++t) {
        own.push_back(&define([](const std::string& n) { return calling(n, kMfma, kMfmaCall); }));
        good.push_back(&Function::define(unique("good")));
        add_generator(table, *good.back(), Signature({Ptr(Float32())}), store_value(float(t)));
    }
    std::latch start(kThreads);
    std::vector<std::string> wrong(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            auto expect_crash = [&](const Function& f, const TargetSpec& spec) {
                try {
                    kc.compile(f, tt, spec);
                    wrong[t] += "compiled " + f.name() + "; ";
                } catch (const LoweringCrashError& e) {
                    if (e.function() != f.name() || e.target() != to_string(spec))
                        wrong[t] += std::string("wrong error: ") + e.what() + "; ";
                }
            };
            for (int round = 0; round < kRounds; ++round) {
                expect_crash(shared, kSm80);
                expect_crash(*own[t], kGfx900);
                const float got = run_store_kernel(*kc.compile(*good[t], tt, kHost));
                if (got != float(t))
                    wrong[t] += "good kernel gave " + std::to_string(got) + "; ";
            }
        });
    for (auto& th : threads)
        th.join();
    for (int t = 0; t < kThreads; ++t)
        EXPECT_EQ(wrong[t], "") << "thread " << t;
    // Only the good kernels were cached, once each.
    EXPECT_EQ(kc.cache().stats().compilations, std::uint64_t(kThreads));
    EXPECT_EQ(kc.cache().lookup(shared, tt, kSm80), nullptr);
}

} // namespace
} // namespace kcache::test
