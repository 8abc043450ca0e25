// NVPTX: PTX for sm_70/80/90 that ptxas accepts, cubins through nvJitLink, libdevice math.
#include "elf_util.hpp"
#include "kernels.hpp"

#include "targets/llvm/ir.hpp"
#include "targets/nvptx/cuda_paths.hpp"
#include "targets/nvptx/nvptx_target.hpp"
#include "targets/target_errors.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tuple>

namespace kcache::test {
namespace {

struct PtxasResult {
    int status = -1;
    std::string output;
};

std::string ptxas_path() {
    return detail::cuda_home() + "/bin/ptxas";
}

PtxasResult run_ptxas(const std::string& ptx, const std::string& arch) {
    auto dir = std::filesystem::temp_directory_path() /
               ("kcache-ptxas-" + std::to_string(::getpid()) + "-" + arch);
    std::filesystem::create_directories(dir);
    auto in = dir / "k.ptx";
    std::ofstream(in) << ptx;
    std::string cmd = ptxas_path() + " -arch=" + arch + " " + in.string() + " -o " +
                      (dir / "k.cubin").string() + " 2>&1";
    PtxasResult r;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p))
            r.output += buf;
        r.status = ::pclose(p);
    }
    std::filesystem::remove_all(dir);
    return r;
}

// Assembles with ptxas, skipping (with the reason) when ptxas is absent or too new for `arch`.
void expect_ptxas_accepts(const std::string& ptx, const std::string& arch) {
    if (!std::filesystem::exists(ptxas_path()))
        GTEST_SKIP() << "ptxas not found at " << ptxas_path() << " (no CUDA toolkit)";
    PtxasResult r = run_ptxas(ptx, arch);
    if (r.output.find("is not defined for option 'gpu-name'") != std::string::npos)
        GTEST_SKIP() << "this ptxas does not support " << arch << ": " << r.output;
    EXPECT_EQ(r.status, 0) << r.output << "\n" << ptx;
}

int sm_number(const std::string& arch) {
    return std::stoi(arch.substr(3, 2));
}

const std::pair<const char*, const char* const*> kKernels[] = {
    {"vadd", &kVectorAdd}, {"reduce", &kReduce}, {"math", &kMath}};

class NvptxKernels : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

// kMath calls exp, which nvptx lowers only through libdevice.
bool needs_missing_libdevice(const std::string& kernel) {
    return kernel == "math" && detail::find_libdevice().empty();
}

TEST_P(NvptxKernels, LowersAndPtxasAssembles) {
    auto [arch, k] = GetParam();
    auto [name, ir] = kKernels[k];
    if (needs_missing_libdevice(name))
        GTEST_SKIP() << "libdevice not found under " << detail::cuda_home();
    Artifact a = compile(*ir, name, {TargetKind::nvptx(), arch, 2});
    EXPECT_EQ(a.kind, TargetKind::nvptx());
    EXPECT_EQ(a.arch, arch);
    EXPECT_EQ(a.kernel_symbol, name);
    EXPECT_FALSE(a.llvm_version.empty());
    EXPECT_NE(a.ptx.find(".target " + arch), std::string::npos) << a.ptx;
    EXPECT_NE(a.ptx.find(".entry " + std::string(name)), std::string::npos) << a.ptx;
    EXPECT_EQ(a.ptx.find(".extern"), std::string::npos) << "unresolved call\n" << a.ptx;
    EXPECT_GT(a.times.prepare.count() + a.times.optimize.count(), 0);
    EXPECT_GT(a.times.emit.count(), 0);
    expect_ptxas_accepts(a.ptx, arch);
}

TEST_P(NvptxKernels, CubinThroughNvJitLink) {
    auto [arch, k] = GetParam();
    auto [name, ir] = kKernels[k];
    if (needs_missing_libdevice(name))
        GTEST_SKIP() << "libdevice not found under " << detail::cuda_home();
    Artifact a = compile(*ir, name, {TargetKind::nvptx(), arch, 2});
    if (a.format != "cubin")
        GTEST_SKIP() << "no cubin: " << a.notes;
    auto elf = read_elf(a.bytes);
    ASSERT_TRUE(elf) << "cubin is not an ELF64 object";
    EXPECT_EQ(elf->machine, 190u); // EM_CUDA
    // The SM number sits in e_flags bits 0-7 (ELF ABI v7) or 8-15 (CUDA 13's ABI v8).
    int sm = sm_number(arch);
    EXPECT_TRUE((elf->flags & 0xff) == unsigned(sm) || ((elf->flags >> 8) & 0xff) == unsigned(sm))
        << std::hex << "e_flags 0x" << elf->flags << " for " << arch;
    EXPECT_TRUE(has_symbol(*elf, name));
    EXPECT_FALSE(a.ptx.empty());
}

INSTANTIATE_TEST_SUITE_P(Archs, NvptxKernels,
                         ::testing::Combine(::testing::Values("sm_70", "sm_80", "sm_90"),
                                            ::testing::Values(0, 1, 2)),
                         [](const auto& info) {
                             return std::get<0>(info.param) + "_" +
                                    kKernels[std::get<1>(info.param)].first;
                         });

std::string target_line(const std::string& ptx) {
    auto at = ptx.find(".target");
    return ptx.substr(at, ptx.find('\n', at) - at);
}

TEST(Nvptx, ArchChangesTargetLine) {
    Artifact a80 = compile(kVectorAdd, "vadd", {TargetKind::nvptx(), "sm_80", 2});
    Artifact a90 = compile(kVectorAdd, "vadd", {TargetKind::nvptx(), "sm_90", 2});
    EXPECT_EQ(target_line(a80.ptx), ".target sm_80");
    EXPECT_EQ(target_line(a90.ptx), ".target sm_90");
    EXPECT_NE(a80.ptx, a90.ptx);
}

TEST(Nvptx, BuiltinsBecomeSpecialRegistersBarriersAndAtomics) {
    Artifact a = compile(kReduce, "reduce", {TargetKind::nvptx(), "sm_80", 2});
    for (const char* needle : {"%tid.x", "%ctaid.x", "%ntid.x", "bar.sync", ".shared .align 4 .b8",
                               "atom.global.add.f32"})
        EXPECT_NE(a.ptx.find(needle), std::string::npos) << needle << "\n" << a.ptx;
    EXPECT_EQ(a.static_shared_bytes, 1024u);
}

TEST(Nvptx, OptLevelChangesOutput) {
    Artifact o0 = compile(kReduce, "reduce", {TargetKind::nvptx(), "sm_80", 0});
    Artifact o3 = compile(kReduce, "reduce", {TargetKind::nvptx(), "sm_80", 3});
    EXPECT_EQ(o0.opt_level, 0);
    EXPECT_EQ(o3.opt_level, 3);
    EXPECT_NE(o0.ptx, o3.ptx);
}

TEST(Nvptx, PtxVersionSuitsArch) {
    EXPECT_EQ(NvptxTarget::ptx_feature("sm_90a"), "+ptx80");
    EXPECT_EQ(NvptxTarget::ptx_feature("sm_90"), "+ptx78");
    EXPECT_EQ(NvptxTarget::ptx_feature("sm_80"), "+ptx70");
    EXPECT_EQ(NvptxTarget::ptx_feature("sm_50"), "+ptx60");
    Artifact a = compile(kVectorAdd, "vadd", {TargetKind::nvptx(), "sm_90a", 2});
    EXPECT_NE(a.ptx.find(".version 8.0"), std::string::npos) << a.ptx;
    EXPECT_NE(a.ptx.find(".target sm_90a"), std::string::npos);
}

TEST(Nvptx, SupportedArchs) {
    auto archs = TargetKind::nvptx().target().supported_archs();
    for (const char* a : {"sm_50", "sm_70", "sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"})
        EXPECT_NE(std::find(archs.begin(), archs.end(), a), archs.end()) << a;
    EXPECT_EQ(std::find(archs.begin(), archs.end(), "sm_35"), archs.end());
}

std::vector<std::string> all_math() {
    std::vector<std::string> all;
    for (const char* op : {"sqrt", "rsqrt", "exp", "exp2", "log", "log2", "log10", "sin", "cos",
                           "tan", "fabs", "floor", "ceil", "trunc", "pow", "fmin", "fmax", "fma"})
        for (const char* t : {"f32", "f64"})
            all.push_back(std::string(op) + "." + t);
    return all;
}

TEST(Nvptx, EveryMathBuiltinThroughLibdevice) {
    if (detail::find_libdevice().empty())
        GTEST_SKIP() << "libdevice not found under " << detail::cuda_home();
    for (int opt : {0, 2}) { // NVVMReflect must fold __nvvm_reflect at O0 too
        Artifact a =
            compile(math_kernel(all_math()), "all_math", {TargetKind::nvptx(), "sm_80", opt});
        EXPECT_EQ(a.ptx.find(".extern"), std::string::npos) << a.ptx;
        EXPECT_EQ(a.ptx.find("__nvvm_reflect"), std::string::npos);
        expect_ptxas_accepts(a.ptx, "sm_80");
    }
}

TEST(Nvptx, WithoutLibdeviceOnlyNativeMath) {
    NvptxTarget bare(NvptxOptions{.libdevice_path = "", .use_nvjitlink = false});
    {
        Compilation c(math_kernel({"sqrt.f32", "rsqrt.f64", "fma.f32", "fabs.f64", "floor.f32",
                                   "ceil.f64", "trunc.f32", "fmin.f32", "fmax.f64"}));
        Artifact a = bare.compile(*c.module, "all_math", {TargetKind::nvptx(), "sm_80", 2});
        EXPECT_EQ(a.format, "ptx");
        EXPECT_EQ(a.ptx.find(".extern"), std::string::npos) << a.ptx;
        EXPECT_EQ(a.notes, "cubin not requested (nvJitLink disabled)");
    }
    Compilation c(math_kernel({"exp.f32"}));
    try {
        bare.prepare(*c.module, "all_math", {TargetKind::nvptx(), "sm_80", 2});
        FAIL() << "exp.f32 lowered without libdevice";
    } catch (const LoweringError& e) {
        EXPECT_NE(std::string(e.what()).find("kcache.exp.f32"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("libdevice"), std::string::npos) << e.what();
    }
}

TEST(Nvptx, StepsSeparately) {
    Compilation c(kVectorAdd);
    const Target& t = TargetKind::nvptx().target();
    TargetSpec spec{TargetKind::nvptx(), "sm_80", 2};
    t.prepare(*c.module, "vadd", spec);
    EXPECT_EQ(c.module->getTargetTriple(), "nvptx64-nvidia-cuda");
    EXPECT_EQ(c.module->getFunction("vadd")->getCallingConv(), llvm::CallingConv::PTX_Kernel);
    EXPECT_EQ(c.module->getFunction("kcache.thread_idx.x"), nullptr);
    t.optimize(*c.module, spec);
    Artifact a = t.emit(*c.module, spec);
    EXPECT_EQ(a.kernel_symbol, "vadd");
    EXPECT_EQ(a.times.prepare.count(), 0);
}

} // namespace
} // namespace kcache::test
