#include "core/method.hpp"

#include <mutex>
#include <shared_mutex>

#include "core/world_state.hpp"

namespace kcache {

Method::Method(Function& f, MethodTable& table, Signature sig, std::shared_ptr<const void> source,
               std::type_index source_type, std::uint64_t world)
    : function_(&f), table_(&table), signature_(std::move(sig)), source_(std::move(source)),
      source_type_(source_type), primary_world_(world), deleted_world_(CodeInstance::kMaxWorld) {}

Method::~Method() = default;

std::uint64_t Method::deleted_world() const {
    std::shared_lock lock(detail::WorldState::instance().mutex());
    return deleted_world_;
}

bool Method::valid_at(std::uint64_t world) const {
    return primary_world_ <= world && world < deleted_world();
}

} // namespace kcache
