// The amdgpu target's registration (cmake/KcacheBuiltins.cmake): the factory the target
// registry calls on its first use.
#include "targets/amdgpu/amdgpu_target.hpp"
#include "targets/target_registry.hpp"

#include <memory>

namespace kcache::builtin {

TargetFactory targets_amdgpu() {
    return [](TargetKind) { return std::make_unique<AmdgpuTarget>(); };
}

} // namespace kcache::builtin
