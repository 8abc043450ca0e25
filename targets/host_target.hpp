// The host CPU: a native relocatable object (loadable by LLVM ORC) following the host kernel ABI
// of targets/host_abi.hpp (hidden trailing launch-context parameter, shared memory as offsets).
#pragma once

#include "targets/target.hpp"

namespace kcache {

/// Thread-safety: stateless; safe to use from several threads at once.
class HostTarget final : public Target {
public:
    TargetKind kind() const override { return TargetKind::Host; }
    /// The CPU names the host backend knows; the default is this machine's CPU.
    std::vector<std::string> supported_archs() const override;
    /// llvm::sys::getHostCPUName(); code for it also uses this machine's CPU features.
    std::string default_arch() const override;

protected:
    std::string triple() const override;
    std::unique_ptr<llvm::TargetMachine> target_machine(const TargetSpec& spec) const override;
    void lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const override;
    /// The host lowers every floating-point type (wide ones through libgcc's routines).
    bool lowers_float(const llvm::Type&) const override { return true; }
    void finish(std::vector<char> codegen_output, const TargetSpec& spec,
                const detail::CompileSubject& subject, Artifact& artifact) const override;
};

} // namespace kcache
