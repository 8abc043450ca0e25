// AMD GPUs: an HSACO (code object v5) through LLVM's AMDGPU backend and in-process lld. Math uses
// only what the backend selects natively (no ROCm device libraries needed); see builtins.hpp.
#pragma once

#include "targets/target.hpp"

namespace kcache {

/// Thread-safety: stateless; safe to use from several threads at once. The final lld link is
/// serialised process-wide (lld is not re-entrant), the rest runs in parallel.
class AmdgpuTarget final : public Target {
public:
    TargetKind kind() const override { return TargetKind::amdgpu(); }
    std::string triple() const override { return "amdgcn-amd-amdhsa"; }
    /// The gfx processors this LLVM knows (generic gfxN-generic targets excluded: they need code
    /// object v6).
    std::vector<std::string> supported_archs() const override;
    std::string default_arch() const override { return "gfx90a"; }
    AddressSpaceMap address_spaces() const override { return kGpuAddressSpaces; }
    /// "hsaco": a code object v5 shared object.
    std::vector<std::string> artifact_formats() const override { return {"hsaco"}; }

protected:
    std::unique_ptr<llvm::TargetMachine> target_machine(const TargetSpec& spec) const override;
    void lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const override;
    /// amdgcn, and the r600 intrinsics that the same backend still selects for amdgcn.
    bool own_intrinsic_prefix(std::string_view prefix) const override {
        return prefix == "amdgcn" || prefix == "r600";
    }
    void finish(std::vector<char> codegen_output, const TargetSpec& spec,
                const detail::CompileSubject& subject, Artifact& artifact) const override;
    /// "lld <version>": the in-process linker that makes the HSACO.
    std::string tools() const override;
};

} // namespace kcache
