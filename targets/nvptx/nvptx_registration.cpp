// The nvptx target's registration (cmake/KcacheBuiltins.cmake): the factory the target
// registry calls on its first use.
#include "targets/nvptx/nvptx_target.hpp"
#include "targets/target_registry.hpp"

#include <memory>

namespace kcache::builtin {

TargetFactory targets_nvptx() {
    return [](TargetKind) { return std::make_unique<NvptxTarget>(); };
}

} // namespace kcache::builtin
