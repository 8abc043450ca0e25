#include "core/dispatch.hpp"

#include <mutex>
#include <set>
#include <shared_mutex>

#include "core/errors.hpp"
#include "core/world_state.hpp"

namespace kcache {
namespace detail {

namespace {

bool valid_in(const Method& m, std::uint64_t world, std::uint64_t deleted) {
    return m.primary_world() <= world && world < deleted;
}

} // namespace

void check_call_types(const Function& f, Type tt) {
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

// Methods are never deleted, only replaced in their table by an equivalent method defined in
// the same world, and dispatch depends only on the methods that apply. So the answer found in
// `world` holds from the definition of the method it chose (from the first world when no method
// applies: none ever did before) until the first definition after `world` of a method that
// applies, in the table or one it falls back to.
MethodLookup WorldState::dispatch(const Function& f, Type tt, const MethodTable& table,
                                  std::uint64_t world) {
    check_call_types(f, tt);
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
    check_call_types(f, tt);
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

} // namespace detail

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
