// A test-only target, "testcpu": code for this CPU under the host ABI (targets/host/host_abi.hpp),
// with its own address-space numbering and its own artifact format, registered from the test
// program. Nothing in targets/ names it.
#pragma once

#include "targets/host/host_target.hpp"

namespace kcache::test {

/// Thread-safety: stateless, as its base.
class TestCpuTarget final : public HostTarget {
public:
    explicit TestCpuTarget(TargetKind self) : self_(self) {}
    TargetKind kind() const override { return self_; }
    /// Global memory as on the built-ins (so that IR methods written for them serve here too);
    /// shared, constant and local memory numbered its own way.
    AddressSpaceMap address_spaces() const override;
    std::vector<std::string> artifact_formats() const override { return {"testcpu-object"}; }

private:
    TargetKind self_;
};

/// Registers "testcpu" with the target registry (once) and returns its kind.
TargetKind testcpu_target();

} // namespace kcache::test
