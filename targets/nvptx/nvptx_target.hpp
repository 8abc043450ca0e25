// NVIDIA GPUs: PTX through LLVM's NVPTX backend, libdevice for math, and a cubin through
// nvJitLink when the library is present.
#pragma once

#include "targets/target.hpp"

#include <memory>
#include <string>

namespace kcache {

struct NvptxOptions {
    /// libdevice bitcode; empty: no libdevice, math limited to the natively selected ops.
    std::string libdevice_path;
    /// Assemble a cubin through nvJitLink when it can be loaded.
    bool use_nvjitlink = true;

    /// libdevice found under the CUDA home (see targets/nvptx/cuda_paths.hpp), nvJitLink on.
    static NvptxOptions from_environment();
};

/// Thread-safety: immutable options plus a libdevice buffer read once under std::call_once;
/// safe to use from several threads at once.
class NvptxTarget final : public Target {
public:
    NvptxTarget();
    explicit NvptxTarget(NvptxOptions options);
    ~NvptxTarget() override;

    TargetKind kind() const override { return TargetKind::nvptx(); }
    std::string triple() const override { return "nvptx64-nvidia-cuda"; }
    /// sm_50 .. sm_90a as known to this LLVM.
    std::vector<std::string> supported_archs() const override;
    std::string default_arch() const override { return "sm_80"; }
    AddressSpaceMap address_spaces() const override { return kGpuAddressSpaces; }
    /// "ptx", or "cubin" when nvJitLink assembled one (the PTX is kept beside it).
    std::vector<std::string> artifact_formats() const override { return {"ptx", "cubin"}; }
    const NvptxOptions& options() const { return options_; }

    /// The PTX ISA version feature used for `arch`: the lowest the arch requires, at least 6.0
    /// ("ptx60" .. "ptx80").
    static std::string ptx_feature(const std::string& arch);

protected:
    std::unique_ptr<llvm::TargetMachine> target_machine(const TargetSpec& spec) const override;
    void lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const override;
    bool emits_assembly() const override { return true; }
    void finish(std::vector<char> codegen_output, const TargetSpec& spec,
                const detail::CompileSubject& subject, Artifact& artifact) const override;
    /// "nvJitLink <version> (<library file>)", or why no cubin is made.
    std::string tools() const override;
    /// "libdevice <BLAKE3 of the file>", or "no libdevice".
    std::string libraries() const override;

private:
    struct Libdevice;
    const Libdevice& libdevice() const; // read once
    NvptxOptions options_;
    std::unique_ptr<Libdevice> libdevice_;
};

} // namespace kcache
