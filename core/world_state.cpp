#include "core/world_state.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/dispatch.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

namespace kcache {

namespace detail {

WorldState& WorldState::instance() {
    static WorldState state;
    return state;
}

WorldState::WorldState() {
    tables_.push_back(std::unique_ptr<MethodTable>(new MethodTable("global", nullptr)));
    global_ = tables_.back().get();
}

MethodTable& WorldState::create_table(std::string name, MethodTable* parent) {
    if (name.empty())
        throw InvalidArgumentError("a method table needs a name");
    std::unique_lock lock(mutex_);
    tables_.push_back(std::unique_ptr<MethodTable>(new MethodTable(std::move(name), parent)));
    MethodTable* table = tables_.back().get();
    if (parent)
        parent->children_.push_back(table);
    return *table;
}

void WorldState::clear_dispatch_caches(MethodTable& table, const Function& f) {
    {
        std::lock_guard lock(table.dispatch_cache_mutex_);
        table.dispatch_cache_.erase(&f);
    }
    for (MethodTable* child : table.children_)
        clear_dispatch_caches(*child, f);
}

Method& WorldState::add_method(MethodTable& table, Function& f, Signature sig,
                               std::shared_ptr<const void> source, std::type_index source_type) {
    std::vector<CodeInstance*> invalidated;
    std::uint64_t new_world;
    Method* added;
    {
        std::unique_lock lock(mutex_);
        const std::uint64_t old_world = world_.load(std::memory_order_relaxed);
        new_world = old_world + 1;

        auto& list = table.methods_[&f];
        Method* replaced = nullptr;
        for (Method*& m : list)
            if (m->signature().equivalent(sig)) {
                replaced = m;
                m = list.back(); // order does not matter: dispatch ranks by specificity
                list.pop_back();
                break;
            }

        methods_.push_back(std::unique_ptr<Method>(
            new Method(f, table, std::move(sig), std::move(source), source_type, new_world)));
        added = methods_.back().get();

        std::vector<Affected> affected;
        if (replaced) {
            // A redefinition: everything compiled from the old body is stale, in every cache.
            replaced->deleted_world_ = new_world;
            for (auto& [tt, mi] : replaced->instances_)
                affected.push_back({mi.get(), nullptr});
        }
        // An insertion: existing instances whose calls the new method now captures, for
        // lookups through this table (and overlays above it).
        for (MethodTable* t = &table; t; t = t->parent_) {
            auto it = t->methods_.find(&f);
            if (it == t->methods_.end())
                continue;
            for (Method* m : it->second) {
                if (m == added)
                    continue;
                for (auto& [tt, mi] : m->instances_) {
                    if (!added->signature().matches(tt))
                        continue;
                    if (t == &table && m->signature().more_specific_than(added->signature()))
                        continue; // the old method still wins
                    affected.push_back({mi.get(), &table});
                }
            }
        }
        list.push_back(added);
        table.history_[&f].push_back(added);
        clear_dispatch_caches(table, f);
        invalidated = invalidate(affected, take_no_method_edges(table, f, *added), new_world);
        // Publish the world last: a reader that sees it also sees every max_world above.
        world_.store(new_world, std::memory_order_release);
        log().debug("world {}: {} {} in table '{}', {} code instance(s) invalidated", new_world,
                    replaced ? "redefined" : "added", added->str(), table.name(),
                    invalidated.size());
    }
    notify(new_world, invalidated);
    return *added;
}

void WorldState::begin_compile(CompileRecord& record) {
    active_compiles_.push_back(&record);
}

void WorldState::end_compile(CompileRecord& record) {
    active_compiles_.erase(std::remove(active_compiles_.begin(), active_compiles_.end(), &record),
                           active_compiles_.end());
}

void WorldState::link(CodeInstance& ci, CacheCore& core, std::unique_ptr<CodeInstance> owned,
                      const CompileRecord& record) {
    ci.mi_->code_instances_.push_back(&ci);
    for (MethodInstance* dep : ci.dependencies_)
        dep->backedges_.push_back(&ci);
    for (const LookupRecord& l : record.lookups)
        if (!l.found)
            no_method_edges_[l.f].push_back({l.tt, l.table, &ci});
    core.code_instances.push_back(std::move(owned));
}

void WorldState::unlink_cache(CacheCore& core) {
    std::unordered_set<MethodInstance*> touched;
    for (auto& owned : core.code_instances) {
        CodeInstance* ci = owned.get();
        if (ci->max_world_.load(std::memory_order_relaxed) != CodeInstance::kMaxWorld)
            continue; // invalidated ones were unlinked then
        touched.insert(ci->mi_);
        touched.insert(ci->dependencies_.begin(), ci->dependencies_.end());
    }
    auto owned_here = [&](const CodeInstance* ci) { return ci->owner_->core_ == &core; };
    for (MethodInstance* mi : touched) {
        std::erase_if(mi->code_instances_, owned_here);
        std::erase_if(mi->backedges_, owned_here);
    }
    for (auto it = no_method_edges_.begin(); it != no_method_edges_.end();) {
        std::erase_if(it->second, [&](const NoMethodEdge& e) { return owned_here(e.ci); });
        it = it->second.empty() ? no_method_edges_.erase(it) : std::next(it);
    }
}

} // namespace detail

} // namespace kcache
