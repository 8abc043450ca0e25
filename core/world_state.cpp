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

// --- Method / MethodInstance / MethodTable accessors ---------------------------------------

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

Type MethodInstance::sparam(std::string_view name) const {
    auto vars = def_->signature().type_vars();
    for (std::size_t i = 0; i < vars.size(); ++i)
        if (vars[i].name() == name)
            return sparams_[i];
    throw InvalidArgumentError("method " + def_->str() + " has no type variable '" +
                               std::string(name) + "'");
}

std::string MethodInstance::str() const {
    std::string s = def_->function().name() + "(";
    auto args = spec_types_.elements();
    for (std::size_t i = 0; i < args.size(); ++i)
        s += (i ? ", ::" : "::") + args[i].str();
    return s + ")";
}

const std::string& CacheShard::tag() const {
    return core_->tag;
}

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

namespace {

bool valid_in(const Method& m, std::uint64_t world, std::uint64_t deleted) {
    return m.primary_world() <= world && world < deleted;
}

std::string call_str(const Function& f, Type tt) {
    std::string call = f.name() + "(";
    auto args = tt.elements();
    for (std::size_t i = 0; i < args.size(); ++i)
        call += (i ? ", ::" : "::") + args[i].str();
    return call + ")";
}

void check_concrete(const Function& f, Type tt) {
    if (!tt || tt.kind() != TypeKind::Tuple)
        throw InvalidArgumentError("argument types of a call of " + f.name() +
                                   " must be a Tuple type, not " + (tt ? tt.str() : "<null>"));
    auto args = tt.elements();
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (!args[i].is_concrete())
            throw AbstractTypeError(
                "cannot specialise " + f.name() + " on " + tt.str() + ": argument " +
                std::to_string(i + 1) + " has " +
                (args[i].has_type_vars() ? "a type variable in its type " : "non-concrete type ") +
                args[i].str() + "; specialisation needs concrete types");
    }
}

} // namespace

// Methods are never deleted, only replaced in their table by an equivalent method defined in
// the same world, and dispatch depends only on the methods that apply. So the answer found in
// `world` holds from the definition of the method it chose (from the first world when no method
// applies: none ever did before) until the first definition after `world` of a method that
// applies, in the table or one it falls back to.
MethodLookup WorldState::dispatch(const Function& f, Type tt, const MethodTable& table,
                                  std::uint64_t world) {
    check_concrete(f, tt);
    const bool current = world == world_.load(std::memory_order_acquire);
    auto answer = [&](MethodInstance* mi) {
        return MethodLookup{mi, mi ? mi->def().primary_world_ : 0,
                            current ? kMaxWorld : answer_max_world(f, tt, table, world)};
    };
    if (current) {
        std::lock_guard lock(table.dispatch_cache_mutex_);
        auto fit = table.dispatch_cache_.find(&f);
        if (fit != table.dispatch_cache_.end()) {
            auto it = fit->second.find(tt);
            if (it != fit->second.end())
                return answer(it->second);
        }
    }

    for (const MethodTable* t = &table; t; t = t->parent_) {
        const auto& lists = current ? t->methods_ : t->history_;
        auto it = lists.find(&f);
        if (it == lists.end())
            continue;
        struct Candidate {
            Method* method;
            std::vector<Type> sparams;
        };
        std::vector<Candidate> applicable;
        for (Method* m : it->second) {
            if (!valid_in(*m, world, m->deleted_world_) ||
                m->signature().arity() != tt.elements().size())
                continue;
            if (auto sp = m->signature().match(tt))
                applicable.push_back({m, std::move(*sp)});
        }
        if (applicable.empty())
            continue;

        Candidate* winner = nullptr;
        for (auto& c : applicable) {
            bool beats_all = true;
            for (auto& other : applicable)
                if (&other != &c &&
                    !c.method->signature().more_specific_than(other.method->signature())) {
                    beats_all = false;
                    break;
                }
            if (beats_all) {
                winner = &c;
                break;
            }
        }
        if (!winner) {
            // Name the candidates that nothing else beats: those are the ambiguous ones.
            std::vector<std::string> names;
            for (auto& c : applicable) {
                bool beaten = false;
                for (auto& other : applicable)
                    if (&other != &c &&
                        other.method->signature().more_specific_than(c.method->signature()))
                        beaten = true;
                if (!beaten)
                    names.push_back(c.method->str());
            }
            std::string msg =
                call_str(f, tt) + " is ambiguous in method table '" + t->name() + "'; candidates:";
            for (auto& n : names)
                msg += "\n  " + n;
            throw AmbiguityError(msg, std::move(names));
        }

        Method& m = *winner->method;
        MethodInstance* mi;
        {
            std::lock_guard lock(m.instances_mutex_);
            auto& slot = m.instances_[tt];
            if (!slot)
                slot.reset(new MethodInstance(m, tt, std::move(winner->sparams)));
            mi = slot.get();
        }
        if (current) {
            std::lock_guard lock(table.dispatch_cache_mutex_);
            table.dispatch_cache_[&f][tt] = mi;
        }
        return answer(mi);
    }
    return answer(nullptr);
}

std::uint64_t WorldState::answer_max_world(const Function& f, Type tt, const MethodTable& table,
                                           std::uint64_t world) const {
    std::uint64_t max_world = kMaxWorld;
    for (const MethodTable* t = &table; t; t = t->parent_) {
        auto it = t->history_.find(&f);
        if (it == t->history_.end())
            continue;
        // History is in definition order: walk back over the definitions after `world` only.
        const auto& history = it->second;
        for (auto m = history.rbegin(); m != history.rend() && (*m)->primary_world_ > world; ++m)
            if ((*m)->signature().matches(tt))
                max_world = std::min(max_world, (*m)->primary_world_ - 1);
    }
    return max_world;
}

void WorldState::throw_method_error(const Function& f, Type tt, const MethodTable& table,
                                    std::uint64_t world) {
    check_concrete(f, tt);
    std::vector<std::string> candidates;
    std::set<std::size_t> arities;
    const bool current = world == world_.load(std::memory_order_acquire);
    for (const MethodTable* t = &table; t; t = t->parent_) {
        const auto& lists = current ? t->methods_ : t->history_;
        auto it = lists.find(&f);
        if (it == lists.end())
            continue;
        for (Method* m : it->second)
            if (valid_in(*m, world, m->deleted_world_)) {
                candidates.push_back(m->str() +
                                     (t != &table ? " [table '" + t->name() + "']" : ""));
                arities.insert(m->signature().arity());
            }
    }
    const std::size_t n = tt.elements().size();
    const std::string call = call_str(f, tt);
    std::string list;
    for (auto& c : candidates)
        list += "\n  " + c;
    if (!arities.empty() && !arities.count(n)) {
        std::string takes;
        for (std::size_t a : arities)
            takes += (takes.empty() ? "" : " or ") + std::to_string(a);
        throw ArityError("no method matching " + call + " in method table '" + table.name() +
                             "': " + f.name() + " takes " + takes + " argument(s), not " +
                             std::to_string(n) + "; candidates:" + list,
                         std::move(candidates));
    }
    // Build the message before the candidates are moved into the error.
    const std::string message =
        "no method matching " + call + " in method table '" + table.name() + "'" +
        (candidates.empty() ? "; " + f.name() + " has no methods there" : "; candidates:" + list);
    throw MethodError(message, std::move(candidates));
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

// --- public dispatch API --------------------------------------------------------------------

std::uint64_t current_world() {
    return detail::WorldState::instance().world();
}

MethodLookup lookup_method(const Function& f, Type tt, const MethodTable& table,
                           std::optional<std::uint64_t> world) {
    auto& state = detail::WorldState::instance();
    std::shared_lock lock(state.mutex());
    return state.dispatch(f, tt, table, world.value_or(state.world()));
}

MethodInstance* method_instance(const Function& f, Type tt, const MethodTable& table,
                                std::optional<std::uint64_t> world) {
    return lookup_method(f, tt, table, world).mi;
}

MethodInstance& require_method_instance(const Function& f, Type tt, const MethodTable& table,
                                        std::optional<std::uint64_t> world) {
    auto& state = detail::WorldState::instance();
    std::shared_lock lock(state.mutex());
    const std::uint64_t w = world.value_or(state.world());
    if (MethodInstance* mi = state.dispatch(f, tt, table, w).mi)
        return *mi;
    state.throw_method_error(f, tt, table, w);
}

void throw_method_error(const Function& f, Type tt, const MethodTable& table,
                        std::optional<std::uint64_t> world) {
    auto& state = detail::WorldState::instance();
    std::shared_lock lock(state.mutex());
    state.throw_method_error(f, tt, table, world.value_or(state.world()));
}

} // namespace kcache
