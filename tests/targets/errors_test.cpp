// Bad input becomes typed errors, never a crash; TargetSpec as a sharding key.
#include "kernels.hpp"

#include "targets/llvm/ir.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Support/raw_ostream.h>

#include <gtest/gtest.h>

#include <thread>
#include <unordered_set>

namespace kcache::test {
namespace {

const TargetSpec kSpecs[] = {{TargetKind::nvptx(), "sm_80", 2},
                             {TargetKind::amdgpu(), "gfx90a", 2},
                             {TargetKind::host(), "", 2}};

TEST(Errors, UnknownArchListsSupportedOnes) {
    const std::pair<TargetKind, const char*> cases[] = {{TargetKind::nvptx(), "sm_99"},
                                                        {TargetKind::amdgpu(), "gfx9999"},
                                                        {TargetKind::host(), "no-such-cpu"}};
    for (auto [kind, arch] : cases) {
        Compilation c(kVectorAdd);
        try {
            kind.target().prepare(*c.module, "vadd", {kind, arch, 2});
            ADD_FAILURE() << arch << " accepted";
        } catch (const UnknownArchError& e) {
            EXPECT_EQ(e.arch(), arch);
            EXPECT_EQ(e.supported(), kind.target().supported_archs());
            ASSERT_FALSE(e.supported().empty());
            EXPECT_NE(std::string(e.what()).find(e.supported().front()), std::string::npos);
        }
    }
    try {
        TargetKind::nvptx().target().resolve({TargetKind::nvptx(), "sm_99", 2});
    } catch (const UnknownArchError& e) {
        EXPECT_NE(std::string(e.what()).find("sm_80"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("sm_90a"), std::string::npos) << e.what();
    }
    try {
        TargetKind::amdgpu().target().resolve({TargetKind::amdgpu(), "gfx9999", 2});
    } catch (const UnknownArchError& e) {
        EXPECT_NE(std::string(e.what()).find("gfx942"), std::string::npos) << e.what();
    }
}

TEST(Errors, VerifierFailureNamesFunction) {
    const char* bad = R"(
define void @broken(ptr addrspace(1) %p) {
  %x = add i32 %y, 1
  %y = add i32 %x, 1
  store i32 %x, ptr addrspace(1) %p
  ret void
})";
    for (const auto& spec : kSpecs) {
        Compilation c(bad);
        try {
            spec.kind.target().prepare(*c.module, "broken", spec);
            ADD_FAILURE() << "invalid IR accepted for " << to_string(spec);
        } catch (const VerifierError& e) {
            EXPECT_EQ(e.function(), "broken");
            EXPECT_NE(std::string(e.what()).find("@broken"), std::string::npos) << e.what();
        }
    }
}

TEST(Errors, ParseErrorHasLineAndColumn) {
    llvm::LLVMContext ctx;
    try {
        parse_ir("define void @k() {\n  ret void\n}\ndefine i32 @j() {\n  ret i32 %nope\n}\n", ctx);
        FAIL() << "parsed";
    } catch (const IRParseError& e) {
        EXPECT_EQ(e.line(), 5);
        EXPECT_EQ(e.column(), 11);
        EXPECT_NE(std::string(e.what()).find("line 5"), std::string::npos) << e.what();
    }
}

void expect_lowering_error(const std::string& ir, const std::string& kernel,
                           const std::string& needle) {
    for (const auto& spec : kSpecs) {
        Compilation c(ir);
        try {
            spec.kind.target().prepare(*c.module, kernel, spec);
            ADD_FAILURE() << "accepted for " << to_string(spec);
        } catch (const LoweringError& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    }
}

TEST(Errors, BadBuiltins) {
    expect_lowering_error(R"(
declare i32 @kcache.frobnicate()
define void @k() {
  %x = call i32 @kcache.frobnicate()
  ret void
})",
                          "k", "unknown builtin @kcache.frobnicate");
    expect_lowering_error(R"(
declare float @kcache.thread_idx.x()
define void @k() {
  %x = call float @kcache.thread_idx.x()
  ret void
})",
                          "k", "expected 'i32 ()'");
    expect_lowering_error(R"(
declare i32 @kcache.thread_idx.x()
define void @k(ptr %out) {
  store ptr @kcache.thread_idx.x, ptr %out
  ret void
})",
                          "k", "other than as the callee");
}

TEST(Errors, BadKernels) {
    expect_lowering_error(kVectorAdd, "missing", "kernel @missing is not defined");
    expect_lowering_error("define i32 @k() {\n  ret i32 0\n}\n", "k", "must return void");
    expect_lowering_error(R"(
@tile = internal addrspace(3) global [4 x float] zeroinitializer
define void @k() {
  store float 1.0, ptr addrspace(3) @tile
  ret void
})",
                          "k", "shared memory must be undef or poison");
}

TEST(Errors, GpuTargetsRejectExternalCalls) {
    for (const auto& spec : {kSpecs[0], kSpecs[1]}) {
        Compilation c(R"(
declare void @printf_like(i32)
define void @k() {
  call void @printf_like(i32 1)
  ret void
})");
        EXPECT_THROW(spec.kind.target().prepare(*c.module, "k", spec), LoweringError);
    }
}

TEST(Errors, StepsOutOfOrder) {
    const Target& t = TargetKind::nvptx().target();
    TargetSpec sm80{TargetKind::nvptx(), "sm_80", 2}, sm90{TargetKind::nvptx(), "sm_90", 2};
    Compilation c(kVectorAdd);
    EXPECT_THROW(t.emit(*c.module, sm80), InvalidArgumentError);
    EXPECT_THROW(t.optimize(*c.module, sm80), InvalidArgumentError);
    t.prepare(*c.module, "vadd", sm80);
    EXPECT_THROW(t.prepare(*c.module, "vadd", sm80), InvalidArgumentError);
    EXPECT_THROW(t.emit(*c.module, sm90), InvalidArgumentError);
    EXPECT_THROW(t.emit(*c.module, {TargetKind::nvptx(), "sm_80", 9}), InvalidArgumentError);
    EXPECT_THROW(TargetKind::host().target().emit(*c.module, {TargetKind::nvptx(), "sm_80", 2}),
                 InvalidArgumentError);
    EXPECT_NO_THROW(t.emit(*c.module, sm80));
}

TEST(TargetSpec, EqualityHashAndNames) {
    TargetSpec a{TargetKind::nvptx(), "sm_80", 3}, b = a, c{TargetKind::nvptx(), "sm_90", 3};
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_NE(a, (TargetSpec{TargetKind::nvptx(), "sm_80", 2}));
    std::unordered_set<TargetSpec> set{a, b, c};
    EXPECT_EQ(set.size(), 2u);
    EXPECT_EQ(std::hash<TargetSpec>{}(a), std::hash<TargetSpec>{}(b));
    EXPECT_EQ(to_string(a), "nvptx:sm_80:O3");
    EXPECT_EQ(TargetKind::named("amdgpu"), TargetKind::amdgpu());
    EXPECT_THROW(TargetKind::named("tpu"), InvalidArgumentError);
    EXPECT_EQ(TargetKind::host().target().resolve({TargetKind::host(), "", 1}).arch,
              TargetKind::host().target().default_arch());
}

std::string printed(const llvm::Module& m) {
    std::string s;
    llvm::raw_string_ostream os(s);
    m.print(os, nullptr);
    return s;
}

TEST(Prepare, IsDeterministicForTheCacheHash) {
    for (const auto& spec : kSpecs) {
        Compilation a(kReduce), b(kReduce);
        spec.kind.target().prepare(*a.module, "reduce", spec);
        spec.kind.target().prepare(*b.module, "reduce", spec);
        EXPECT_EQ(printed(*a.module), printed(*b.module)) << to_string(spec);
        EXPECT_EQ(a.module->getFunction("global_id")->getLinkage(),
                  llvm::GlobalValue::InternalLinkage);
    }
}

TEST(Concurrency, AllTargetsAtOnce) {
    // Target objects are shared; each thread has its own context and module.
    std::vector<std::string> failures(6);
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; ++i)
        threads.emplace_back([i, &failures] {
            try {
                Artifact a =
                    compile(i % 2 ? kReduce : kVectorAdd, i % 2 ? "reduce" : "vadd", kSpecs[i % 3]);
                if (a.bytes.empty())
                    failures[i] = "empty artifact";
            } catch (const std::exception& e) {
                failures[i] = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    for (const auto& f : failures)
        EXPECT_EQ(f, "");
}

} // namespace
} // namespace kcache::test
