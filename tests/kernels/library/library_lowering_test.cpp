// Every library kernel, for every example specialisation, lowered for nvptx (sm_70, sm_80, sm_90;
// PTX assembled by ptxas, cubin from nvJitLink), amdgpu (gfx90a, gfx942, gfx1100; HSACO checked)
// and the host (relocatable object for this triple). One test per kernel and target kind, looping
// over archs, to keep the process count low.
#include "elf_util.hpp"

#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "targets/nvptx/cuda_paths.hpp"

#include <llvm/BinaryFormat/ELF.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace kcache::test {
namespace {

const char* const kKernelNames[] = {"axpby_ir",     "copy",       "fill",  "matmul",
                                    "matmul_tiled", "reduce_sum", "saxpy", "softmax_rows",
                                    "transpose",    "vadd"};

std::string ptxas_path() {
    return detail::cuda_home() + "/bin/ptxas";
}

// ptxas's exit status and output for `ptx` on `arch`.
std::pair<int, std::string> run_ptxas(const std::string& ptx, const std::string& arch) {
    auto dir = std::filesystem::temp_directory_path() /
               ("kcache-kernels-ptxas-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto in = dir / "k.ptx";
    std::ofstream(in) << ptx;
    std::string cmd = ptxas_path() + " -arch=" + arch + " " + in.string() + " -o " +
                      (dir / "k.cubin").string() + " 2>&1";
    std::string out;
    int status = -1;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p))
            out += buf;
        status = ::pclose(p);
    }
    std::filesystem::remove_all(dir);
    return {status, out};
}

bool contains(const std::vector<std::uint8_t>& bytes, const std::string& s) {
    return std::search(bytes.begin(), bytes.end(), s.begin(), s.end()) != bytes.end();
}

class LibraryLowering : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override {
        auto all = kernels::register_all();
        info_ = *kernels::find_kernel(all, GetParam());
    }
    kernels::KernelInfo info_;
    kernels::KernelCompiler compiler_{MethodTable::global(), "LibraryLowering"};
};

TEST_P(LibraryLowering, Nvptx) {
    const bool have_ptxas = std::filesystem::exists(ptxas_path());
    if (!have_ptxas)
        std::cout << "[ NOTE ] ptxas not found at " << ptxas_path() << ": PTX not assembled\n";
    for (Type tt : info_.examples)
        for (const char* arch : {"sm_70", "sm_80", "sm_90"}) {
            SCOPED_TRACE(tt.str() + " " + arch);
            auto a =
                compiler_.compile(Function::named(info_.name), tt, {TargetKind::nvptx(), arch, 2});
            EXPECT_EQ(a->kind, TargetKind::nvptx());
            EXPECT_EQ(a->arch, arch);
            EXPECT_EQ(a->opt_level, 2);
            EXPECT_EQ(a->kernel_symbol, info_.name);
            EXPECT_FALSE(a->llvm_version.empty());
            EXPECT_NE(a->ptx.find(".target " + std::string(arch)), std::string::npos);
            EXPECT_NE(a->ptx.find(".entry " + info_.name), std::string::npos) << a->ptx;
            EXPECT_EQ(a->ptx.find(".extern"), std::string::npos) << "unresolved call\n" << a->ptx;
            if (have_ptxas) {
                auto [status, out] = run_ptxas(a->ptx, arch);
                if (out.find("is not defined for option 'gpu-name'") != std::string::npos)
                    std::cout << "[ SKIP ] ptxas: this CUDA does not support " << arch << "\n";
                else
                    EXPECT_EQ(status, 0) << out << "\n" << a->ptx;
            }
            if (a->format == "cubin") {
                auto elf = read_elf(a->bytes);
                ASSERT_TRUE(elf) << "cubin is not an ELF64 object";
                EXPECT_EQ(elf->machine, 190u); // EM_CUDA
                unsigned sm = std::stoi(std::string(arch).substr(3));
                EXPECT_TRUE((elf->flags & 0xff) == sm || ((elf->flags >> 8) & 0xff) == sm)
                    << std::hex << "e_flags 0x" << elf->flags;
                EXPECT_TRUE(has_symbol(*elf, info_.name));
            } else {
                std::cout << "[ NOTE ] no cubin for " << arch << ": " << a->notes << "\n";
            }
        }
}

TEST_P(LibraryLowering, Amdgpu) {
    for (Type tt : info_.examples)
        for (const char* arch : {"gfx90a", "gfx942", "gfx1100"}) {
            SCOPED_TRACE(tt.str() + " " + arch);
            auto a =
                compiler_.compile(Function::named(info_.name), tt, {TargetKind::amdgpu(), arch, 2});
            EXPECT_EQ(a->format, "hsaco");
            EXPECT_EQ(a->arch, arch);
            EXPECT_EQ(a->kernel_symbol, info_.name);
            auto elf = read_elf(a->bytes);
            ASSERT_TRUE(elf) << "HSACO is not an ELF64 object";
            EXPECT_EQ(elf->type, unsigned(llvm::ELF::ET_DYN));
            EXPECT_EQ(elf->machine, unsigned(llvm::ELF::EM_AMDGPU));
            unsigned mach = std::string(arch) == "gfx90a" ? llvm::ELF::EF_AMDGPU_MACH_AMDGCN_GFX90A
                            : std::string(arch) == "gfx942"
                                ? llvm::ELF::EF_AMDGPU_MACH_AMDGCN_GFX942
                                : llvm::ELF::EF_AMDGPU_MACH_AMDGCN_GFX1100;
            EXPECT_EQ(elf->flags & llvm::ELF::EF_AMDGPU_MACH, mach);
            EXPECT_TRUE(has_symbol(*elf, info_.name));
            EXPECT_TRUE(has_symbol(*elf, info_.name + ".kd"));
            EXPECT_TRUE(contains(a->bytes, "amdhsa.kernels"));
            EXPECT_TRUE(contains(a->bytes, info_.name + ".kd"));
        }
}

TEST_P(LibraryLowering, Host) {
    for (Type tt : info_.examples) {
        SCOPED_TRACE(tt.str());
        auto a = compiler_.compile(Function::named(info_.name), tt, {TargetKind::host(), "", 2});
        EXPECT_EQ(a->format, "object");
        EXPECT_EQ(a->arch, llvm::sys::getHostCPUName().str());
        auto elf = read_elf(a->bytes);
        ASSERT_TRUE(elf) << "host object is not ELF64";
        EXPECT_EQ(elf->type, unsigned(llvm::ELF::ET_REL));
        EXPECT_EQ(elf->arch, llvm::Triple::getArchTypeName(
                                 llvm::Triple(llvm::sys::getProcessTriple()).getArch())
                                 .str());
        EXPECT_TRUE(has_symbol(*elf, info_.name));
        EXPECT_TRUE(has_symbol(*elf, info_.name + ".kcache.shared_bytes"));
    }
}

INSTANTIATE_TEST_SUITE_P(Kernels, LibraryLowering, ::testing::ValuesIn(kKernelNames),
                         [](const auto& info) { return std::string(info.param); });

TEST(Library, RegisterAllIsIdempotentAndListsEveryKernel) {
    auto first = kernels::register_all();
    auto second = kernels::register_all();
    ASSERT_EQ(first.size(), std::size(kKernelNames));
    for (std::size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(first[i].name, kKernelNames[i]);
        EXPECT_EQ(first[i].name, second[i].name);
        EXPECT_FALSE(first[i].signatures.empty());
        EXPECT_FALSE(first[i].description.empty());
        EXPECT_FALSE(first[i].examples.empty());
    }
    // Registering twice did not add methods twice.
    EXPECT_EQ(MethodTable::global().methods(Function::named("saxpy")).size(), 1u);
    auto saxpy = kernels::find_kernel(first, "saxpy");
    ASSERT_TRUE(saxpy);
    EXPECT_EQ(saxpy->signatures[0],
              "saxpy(::T, ::Ptr{T}, ::Ptr{T}, ::Int32) where T<:AbstractFloat");
}

} // namespace
} // namespace kcache::test
