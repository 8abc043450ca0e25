#include "core/invalidation.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/log.hpp"
#include "core/world_state.hpp"

namespace kcache {

namespace detail {

std::shared_ptr<ListenerList::Slot> ListenerList::add(InvalidationListener fn) {
    auto slot = std::make_shared<Slot>();
    slot->fn = std::move(fn);
    std::lock_guard lock(mutex_);
    slots_.push_back(slot);
    return slot;
}

void ListenerList::remove(const std::shared_ptr<Slot>& slot) {
    {
        std::lock_guard lock(mutex_);
        slots_.erase(std::remove(slots_.begin(), slots_.end(), slot), slots_.end());
    }
    std::unique_lock wait_for_calls(slot->mutex);
    slot->removed = true;
}

void ListenerList::notify(const InvalidationEvent& event) const {
    std::vector<std::shared_ptr<Slot>> snapshot;
    {
        std::lock_guard lock(mutex_);
        snapshot = slots_;
    }
    for (const auto& slot : snapshot) {
        std::shared_lock calling(slot->mutex);
        if (slot->removed)
            continue;
        try {
            slot->fn(event);
        } catch (const std::exception& e) {
            // A listener's failure must not leave other listeners uninformed.
            log().error("invalidation listener threw: {}", e.what());
        } catch (...) {
            log().error("invalidation listener threw a non-standard exception");
        }
    }
}

bool ListenerList::empty() const {
    std::lock_guard lock(mutex_);
    return slots_.empty();
}

// --- the world's side: which code instances a definition invalidates ----------------------

std::vector<CodeInstance*>
WorldState::take_no_method_edges(const MethodTable& table, const Function& f, const Method& added) {
    std::vector<CodeInstance*> broken;
    auto it = no_method_edges_.find(&f);
    if (it == no_method_edges_.end())
        return broken;
    // Lookups through `table` or a table layered over it now see the new method.
    std::erase_if(it->second, [&](const NoMethodEdge& e) {
        if (e.ci->max_world_.load(std::memory_order_relaxed) != kMaxWorld)
            return true; // invalidated since: drop the edge
        if (!e.table->inherits_from(table) || !added.signature().matches(e.tt))
            return false;
        broken.push_back(e.ci);
        return true;
    });
    if (it->second.empty())
        no_method_edges_.erase(it);
    return broken;
}

std::vector<CodeInstance*> WorldState::invalidate(const std::vector<Affected>& affected,
                                                  std::vector<CodeInstance*> direct,
                                                  std::uint64_t new_world) {
    auto in_scope = [](const CodeInstance* ci, const MethodTable* scope) {
        return !scope || ci->owner_->core_->table->inherits_from(*scope);
    };
    std::vector<CodeInstance*> work = std::move(direct);
    for (const Affected& a : affected) {
        a.mi->last_invalidated_world_ = new_world;
        for (CodeInstance* ci : a.mi->code_instances_)
            if (in_scope(ci, a.scope))
                work.push_back(ci);
        for (CodeInstance* dep : a.mi->backedges_)
            if (in_scope(dep, a.scope))
                work.push_back(dep);
    }

    std::vector<CodeInstance*> out;
    while (!work.empty()) {
        CodeInstance* ci = work.back();
        work.pop_back();
        if (ci->max_world_.load(std::memory_order_relaxed) != CodeInstance::kMaxWorld)
            continue; // already done: this is what makes cycles terminate
        ci->max_world_.store(new_world - 1, std::memory_order_release);
        out.push_back(ci);
        // Dependents that used this very code instance: same cache, same key.
        for (CodeInstance* dep : ci->mi_->backedges_)
            if (dep->owner_ == ci->owner_)
                work.push_back(dep);
    }

    // Compilations in progress that read anything invalidated here must not be served.
    if (!active_compiles_.empty()) {
        std::unordered_map<const MethodInstance*, std::vector<const MethodTable*>> direct;
        for (const Affected& a : affected)
            direct[a.mi].push_back(a.scope);
        std::set<std::pair<const MethodInstance*, const CacheShard*>> used;
        for (const CodeInstance* ci : out)
            used.insert({ci->mi_, ci->owner_});
        auto touched = [&](const CompileRecord& r, const MethodInstance* mi) {
            if (auto it = direct.find(mi); it != direct.end())
                for (const MethodTable* scope : it->second)
                    if (!scope || r.core->table->inherits_from(*scope))
                        return true;
            return used.count({mi, r.shard}) > 0;
        };
        for (CompileRecord* r : active_compiles_) {
            if (touched(*r, r->mi))
                r->doomed = true;
            for (const MethodInstance* dep : r->dependencies)
                if (touched(*r, dep))
                    r->doomed = true;
        }
    }

    // Unlink what was invalidated so that the lists hold valid code instances only: one pass
    // per touched method instance, not one search per code instance.
    std::unordered_set<MethodInstance*> touched;
    for (CodeInstance* ci : out) {
        touched.insert(ci->mi_);
        touched.insert(ci->dependencies_.begin(), ci->dependencies_.end());
        ci->owner_->core_->invalidations.fetch_add(1, std::memory_order_relaxed);
    }
    auto invalid = [](const CodeInstance* ci) {
        return ci->max_world_.load(std::memory_order_relaxed) != CodeInstance::kMaxWorld;
    };
    for (MethodInstance* mi : touched) {
        std::erase_if(mi->code_instances_, invalid);
        std::erase_if(mi->backedges_, invalid);
    }
    return out;
}

void WorldState::notify(std::uint64_t world, const std::vector<CodeInstance*>& invalidated) {
    if (invalidated.empty())
        return;
    // Group per cache, keeping each cache's core (and so its code instances) alive while its
    // listeners run. Caches are destroyed under the world lock, which this no longer holds, so
    // take the references first.
    std::map<CacheCore*, std::vector<const CodeInstance*>> per_cache;
    std::vector<std::shared_ptr<CacheCore>> alive;
    {
        std::shared_lock lock(mutex_);
        for (CodeInstance* ci : invalidated) {
            CacheCore* core = ci->owner_->core_;
            auto [it, inserted] = per_cache.try_emplace(core);
            if (inserted) {
                auto strong = core->weak_from_this().lock();
                if (!strong) {
                    per_cache.erase(it);
                    continue;
                }
                alive.push_back(std::move(strong));
            }
            it->second.push_back(ci);
        }
    }
    std::vector<const CodeInstance*> all;
    for (auto& [core, cis] : per_cache) {
        core->listeners->notify({world, cis});
        all.insert(all.end(), cis.begin(), cis.end());
    }
    global_listeners_->notify({world, all});
}

} // namespace detail

void Subscription::reset() {
    if (!slot_)
        return;
    if (auto list = list_.lock())
        list->remove(slot_);
    else {
        std::unique_lock wait_for_calls(slot_->mutex);
        slot_->removed = true;
    }
    slot_.reset();
    list_.reset();
}

Subscription add_invalidation_listener(InvalidationListener listener) {
    auto& list = detail::WorldState::instance().global_listeners();
    auto slot = list->add(std::move(listener));
    return Subscription(list, std::move(slot));
}

} // namespace kcache
