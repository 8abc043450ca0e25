#include "testcpu_target.hpp"

#include "targets/target_registry.hpp"

namespace kcache::test {

AddressSpaceMap TestCpuTarget::address_spaces() const {
    AddressSpaceMap spaces;
    spaces.shared = 8;
    spaces.constant = 9;
    spaces.local = 10;
    return spaces;
}

TargetKind testcpu_target() {
    static const TargetKind kind = TargetRegistry::add(
        "testcpu", [](TargetKind self) { return std::make_unique<TestCpuTarget>(self); });
    return kind;
}

} // namespace kcache::test
