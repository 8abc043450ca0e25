#include "core/method_table.hpp"

#include <mutex>
#include <shared_mutex>

#include "core/world_state.hpp"

namespace kcache {

MethodTable& MethodTable::global() {
    return detail::WorldState::instance().global_table();
}

MethodTable& MethodTable::create_overlay(std::string name, MethodTable& parent) {
    return detail::WorldState::instance().create_table(std::move(name), &parent);
}

MethodTable& MethodTable::create_root(std::string name) {
    return detail::WorldState::instance().create_table(std::move(name), nullptr);
}

bool MethodTable::inherits_from(const MethodTable& other) const {
    for (const MethodTable* t = this; t; t = t->parent_)
        if (t == &other)
            return true;
    return false;
}

std::vector<const Method*> MethodTable::methods(const Function& f) const {
    auto& world = detail::WorldState::instance();
    std::shared_lock lock(world.mutex());
    std::vector<const Method*> out;
    auto it = methods_.find(&f);
    if (it == methods_.end())
        return out;
    out.assign(it->second.begin(), it->second.end());
    return out;
}

namespace detail {

Method& add_method(MethodTable& table, Function& f, Signature sig,
                   std::shared_ptr<const void> source, std::type_index source_type) {
    return WorldState::instance().add_method(table, f, std::move(sig), std::move(source),
                                             source_type);
}

} // namespace detail
} // namespace kcache
