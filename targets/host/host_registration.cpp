// The host target's registration (cmake/KcacheBuiltins.cmake): the factory the target
// registry calls on its first use.
#include "targets/host/host_target.hpp"
#include "targets/target_registry.hpp"

#include <memory>

namespace kcache::builtin {

TargetFactory targets_host() {
    return [](TargetKind) { return std::make_unique<HostTarget>(); };
}

} // namespace kcache::builtin
