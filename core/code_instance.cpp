#include "core/code_instance.hpp"

#include "core/world_state.hpp"

namespace kcache {

const std::string& CacheShard::tag() const {
    return core_->tag;
}

} // namespace kcache
