// The host CPU: a native relocatable object (loadable by LLVM ORC, targets/host/host_loader.hpp)
// following the host kernel ABI of targets/host/host_abi.hpp (hidden trailing launch-context
// parameter, shared memory as offsets, an argument-array entry beside the kernel).
#pragma once

#include "targets/target.hpp"

namespace kcache {

/// Thread-safety: stateless; safe to use from several threads at once.
///
/// Other targets that run kernels on this CPU under the host ABI may derive from it and
/// declare their own kind, address-space map and artifact formats: lowering follows
/// address_spaces(), so a derived target with another numbering compiles correctly.
class HostTarget : public Target {
public:
    TargetKind kind() const override { return TargetKind::host(); }
    /// The process's triple (llvm::sys::getProcessTriple()).
    std::string triple() const override;
    /// The CPU names the host backend knows; the default is this machine's CPU.
    std::vector<std::string> supported_archs() const override;
    /// llvm::sys::getHostCPUName(); code for it also uses this machine's CPU features.
    std::string default_arch() const override;
    /// The GPU numbering (the CPU gives the spaces no meaning), so that one IR text serves
    /// every built-in target.
    AddressSpaceMap address_spaces() const override { return kGpuAddressSpaces; }
    /// "object".
    std::vector<std::string> artifact_formats() const override { return {"object"}; }

protected:
    std::unique_ptr<llvm::TargetMachine> target_machine(const TargetSpec& spec) const override;
    void lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const override;
    /// The host lowers every floating-point type (wide ones through libgcc's routines).
    bool lowers_float(const llvm::Type&) const override { return true; }
    /// The object, with artifact_formats().front() as its format.
    void finish(std::vector<char> codegen_output, const TargetSpec& spec,
                const detail::CompileSubject& subject, Artifact& artifact) const override;
};

} // namespace kcache
