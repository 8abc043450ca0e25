// AMDGPU: HSACO shared objects for gfx90a/gfx942/gfx1100 linked in-process by lld.
#include "elf_util.hpp"
#include "kernels.hpp"

#include "targets/target_errors.hpp"

#include <llvm/BinaryFormat/ELF.h>

#include <gtest/gtest.h>

#include <thread>
#include <tuple>

namespace kcache::test {
namespace {

const std::pair<const char*, const char* const*> kKernels[] = {
    {"vadd", &kVectorAdd}, {"reduce", &kReduce}, {"math", &kMath}};

unsigned expected_mach(const std::string& arch) {
    if (arch == "gfx90a")
        return llvm::ELF::EF_AMDGPU_MACH_AMDGCN_GFX90A;
    if (arch == "gfx942")
        return llvm::ELF::EF_AMDGPU_MACH_AMDGCN_GFX942;
    return llvm::ELF::EF_AMDGPU_MACH_AMDGCN_GFX1100;
}

bool contains(const std::vector<std::uint8_t>& bytes, const std::string& s) {
    return std::search(bytes.begin(), bytes.end(), s.begin(), s.end()) != bytes.end();
}

class AmdgpuKernels : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(AmdgpuKernels, LinksHsaco) {
    auto [arch, k] = GetParam();
    auto [name, ir] = kKernels[k];
    Artifact a = compile(*ir, name, {TargetKind::amdgpu(), arch, 2});
    EXPECT_EQ(a.format, "hsaco");
    EXPECT_EQ(a.kernel_symbol, name);
    auto elf = read_elf(a.bytes);
    ASSERT_TRUE(elf) << "HSACO is not an ELF64 object";
    EXPECT_EQ(elf->type, unsigned(llvm::ELF::ET_DYN));
    EXPECT_EQ(elf->machine, unsigned(llvm::ELF::EM_AMDGPU));
    EXPECT_EQ(elf->flags & llvm::ELF::EF_AMDGPU_MACH, expected_mach(arch));
    EXPECT_EQ(elf->abi_version, unsigned(llvm::ELF::ELFABIVERSION_AMDGPU_HSA_V5));
    EXPECT_TRUE(has_symbol(*elf, name));
    EXPECT_TRUE(has_symbol(*elf, std::string(name) + ".kd")); // kernel descriptor
    EXPECT_TRUE(contains(a.bytes, "amdhsa.kernels"));         // note metadata names it too
    if (std::string(name) == "reduce") {
        EXPECT_EQ(a.static_shared_bytes, 1024u);
    }
}

INSTANTIATE_TEST_SUITE_P(Archs, AmdgpuKernels,
                         ::testing::Combine(::testing::Values("gfx90a", "gfx942", "gfx1100"),
                                            ::testing::Values(0, 1, 2)),
                         [](const auto& info) {
                             return std::get<0>(info.param) + "_" +
                                    kKernels[std::get<1>(info.param)].first;
                         });

TEST(Amdgpu, OptLevelChangesOutput) {
    Artifact o0 = compile(kReduce, "reduce", {TargetKind::amdgpu(), "gfx90a", 0});
    Artifact o3 = compile(kReduce, "reduce", {TargetKind::amdgpu(), "gfx90a", 3});
    EXPECT_NE(o0.bytes, o3.bytes);
}

TEST(Amdgpu, SupportedArchs) {
    auto archs = TargetKind::amdgpu().target().supported_archs();
    for (const char* a : {"gfx900", "gfx90a", "gfx942", "gfx1030", "gfx1100"})
        EXPECT_NE(std::find(archs.begin(), archs.end(), a), archs.end()) << a;
}

TEST(Amdgpu, NativeMathLowersInProcess) {
    std::vector<std::string> ops;
    for (const char* op : {"sqrt", "rsqrt", "exp", "exp2", "log", "log2", "log10", "sin", "cos",
                           "fabs", "floor", "ceil", "trunc", "fmin", "fmax", "fma"})
        ops.push_back(std::string(op) + ".f32");
    for (const char* op :
         {"sqrt", "rsqrt", "fabs", "floor", "ceil", "trunc", "fmin", "fmax", "fma"})
        ops.push_back(std::string(op) + ".f64");
    for (const char* arch : {"gfx90a", "gfx1100"}) {
        Artifact a = compile(math_kernel(ops), "all_math", {TargetKind::amdgpu(), arch, 2});
        auto elf = read_elf(a.bytes);
        ASSERT_TRUE(elf);
        EXPECT_TRUE(has_symbol(*elf, "all_math"));
    }
}

TEST(Amdgpu, MathWithoutLoweringIsTypedError) {
    for (const char* op : {"exp.f64", "log.f64", "sin.f64", "cos.f64", "tan.f32", "pow.f32"}) {
        Compilation c(math_kernel({op}));
        try {
            TargetKind::amdgpu().target().prepare(*c.module, "all_math",
                                                  {TargetKind::amdgpu(), "gfx90a", 2});
            ADD_FAILURE() << op << " lowered on amdgpu";
        } catch (const LoweringError& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("kcache.") + op), std::string::npos)
                << e.what();
            EXPECT_EQ(e.function(), "all_math");
        }
    }
    // The same for an LLVM intrinsic written directly, which would otherwise become a libcall.
    Compilation c(R"(
declare double @llvm.sin.f64(double)
define void @k(ptr addrspace(1) %p) {
  %x = load double, ptr addrspace(1) %p
  %y = call double @llvm.sin.f64(double %x)
  store double %y, ptr addrspace(1) %p
  ret void
})");
    EXPECT_THROW(
        TargetKind::amdgpu().target().prepare(*c.module, "k", {TargetKind::amdgpu(), "gfx90a", 2}),
        LoweringError);
}

TEST(Amdgpu, ConcurrentCompilationsSerialiseLld) {
    std::vector<std::thread> threads;
    std::vector<std::string> failures(4);
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([i, &failures] {
            try {
                Artifact a = compile(i % 2 ? kReduce : kVectorAdd, i % 2 ? "reduce" : "vadd",
                                     {TargetKind::amdgpu(), i < 2 ? "gfx90a" : "gfx1100", 1});
                if (!read_elf(a.bytes))
                    failures[i] = "not an ELF";
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
