#include "core/compiler_cache.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/world_state.hpp"

namespace kcache {

namespace detail {

std::uint64_t world_now() noexcept {
    return WorldState::instance().world();
}

const std::atomic<std::uint64_t>& world_counter() noexcept {
    return WorldState::instance().world_counter();
}

} // namespace detail

CacheBase::CacheBase(std::string tag, MethodTable& table)
    : method_table_(&table), core_(std::make_shared<detail::CacheCore>()) {
    if (tag.empty())
        throw InvalidArgumentError("a CompilerCache needs a non-empty tag");
    core_->tag = std::move(tag);
    core_->table = &table;
}

CacheBase::~CacheBase() {
    auto& world = detail::WorldState::instance();
    std::unique_lock lock(world.mutex());
    world.unlink_cache(*core_);
}

const std::string& CacheBase::tag() const {
    return core_->tag;
}

void CacheBase::count_compilation(std::chrono::nanoseconds time) noexcept {
    compilations_.fetch_add(1, std::memory_order_relaxed);
    compile_ns_.fetch_add(time.count(), std::memory_order_relaxed);
}

CacheStats CacheBase::stats() const {
    CacheStats s;
    s.hits = hits_.load();
    s.misses = misses_.load(std::memory_order_relaxed);
    s.compilations = compilations_.load(std::memory_order_relaxed);
    s.invalidations = core_->invalidations.load(std::memory_order_relaxed);
    s.compile_time = std::chrono::nanoseconds(compile_ns_.load(std::memory_order_relaxed));
    s.waits = waits_.load(std::memory_order_relaxed);
    s.stale = stale_.load(std::memory_order_relaxed);
    {
        std::lock_guard lock(mutex_);
        s.entries = entries_.size();
        s.waiting = waiting_.size();
    }
    return s;
}

Subscription CacheBase::add_invalidation_listener(InvalidationListener listener) {
    auto slot = core_->listeners->add(std::move(listener));
    return Subscription(core_->listeners, std::move(slot));
}

detail::Entry& CacheBase::insert_locked(std::unique_ptr<detail::Entry> entry) {
    detail::Entry& ref = *entry;
    entries_.push_back(std::move(entry));
    entry_table_.insert(&ref);
    return ref;
}

CacheShard& CacheBase::add_shard_locked(std::unique_ptr<CacheShard> shard) {
    CacheShard& ref = *shard;
    core_->shards.push_back(std::move(shard));
    return ref;
}

std::string CacheBase::describe(const detail::Entry& e) const {
    return call_str(*e.f, e.tt) + " [cache '" + core_->tag + "', key #" +
           std::to_string(e.shard->index()) + "]";
}

CacheBase::Acquired CacheBase::acquire(detail::Entry& e) {
    auto& world = detail::WorldState::instance();
    const auto me = std::this_thread::get_id();
    std::unique_lock lock(mutex_);
    for (;;) {
        const std::uint64_t now = world.world();
        if (const CodeInstance* ci = e.ci.load(std::memory_order_acquire);
            ci && ci->max_world() >= now)
            return {Acquired::Ready, ci, nullptr};
        if (!e.in_flight) {
            e.in_flight = std::make_shared<detail::InFlight>();
            e.in_flight->owner = me;
            e.in_flight->entry = &e;
            return {Acquired::Compile, nullptr, e.in_flight};
        }
        // Someone compiles it: wait, unless that someone is (transitively) waiting for us.
        std::shared_ptr<detail::InFlight> flight = e.in_flight;
        // Follow who waits for whom; a waiter whose compilation is done is about to wake and
        // blocks nobody. The message is built only when there is a cycle.
        auto next = [&](const detail::InFlight* f) -> const detail::InFlight* {
            auto it = waiting_.find(f->owner);
            return it == waiting_.end() || it->second->done ? nullptr : it->second;
        };
        for (const detail::InFlight* f = flight.get(); f; f = next(f)) {
            if (f->owner != me)
                continue;
            std::string chain = describe(e);
            for (const detail::InFlight* g = flight.get(); g != f;) {
                g = next(g);
                chain += " <- " + describe(*g->entry);
            }
            throw CompilationCycleError("compilation cycle: " + chain +
                                        " needs itself; recursive calls must be compiled in one "
                                        "unit and recorded with register_dependency, not "
                                        "compiled through the cache");
        }
        waiting_[me] = flight.get();
        waits_.fetch_add(1, std::memory_order_relaxed);
        cv_.wait(lock, [&] { return flight->done; });
        waiting_.erase(me);
        if (flight->error)
            std::rethrow_exception(flight->error);
        if (!flight->ci) {
            // "No method" is only an answer for the world it was dispatched in.
            if (flight->world == world.world())
                return {Acquired::NoMethod, nullptr, nullptr};
            continue;
        }
        // A definition may have landed between that commit and now, and this call may have
        // begun after it: serve the result only if it is still valid, else go round again.
        if (flight->ci->max_world() >= world.world())
            return {Acquired::Ready, flight->ci, nullptr};
    }
}

MethodInstance* CacheBase::begin_compile(detail::Entry& e, detail::CompileRecord& record) {
    auto& world = detail::WorldState::instance();
    std::unique_lock lock(world.mutex());
    record.world = world.world();
    MethodInstance* mi;
    if (e.pinned) {
        mi = const_cast<MethodInstance*>(e.pinned);
        if (mi->def().deleted_world_ != kMaxWorld)
            throw StaleMethodInstanceError(
                "cannot compile " + mi->str() + " for cache '" + core_->tag + "': its method " +
                mi->def().str() + " was replaced in world " +
                std::to_string(mi->def().deleted_world_) + "; dispatch again");
        record.min_world = mi->def().primary_world();
    } else {
        const MethodLookup found = world.dispatch(*e.f, e.tt, *method_table_, record.world);
        record.lookups.push_back({e.f, e.tt, method_table_, record.world, found.mi != nullptr});
        if (!found.mi)
            return nullptr;
        mi = found.mi;
        record.min_world = found.min_world;
    }
    record.mi = mi;
    record.shard = e.shard;
    record.core = core_.get();
    record.active = true;
    world.begin_compile(record);
    log().debug("compiling {} for {} in world {}", mi->str(), core_->tag, record.world);
    return mi;
}

const CodeInstance* CacheBase::commit(detail::Entry& e, detail::CompileRecord& record,
                                      std::unique_ptr<CodeInstance> ci,
                                      std::chrono::nanoseconds time) {
    auto& world = detail::WorldState::instance();
    std::unique_lock lock(world.mutex());
    world.end_compile(record);
    record.active = false;
    // The answer of every lookup must still hold: a definition that landed after the
    // compilation began may have changed one made in its (older) world, even one that created
    // a method instance nothing else had seen (and so nothing could invalidate).
    bool stale = record.doomed || (e.pinned && record.mi->def().deleted_world_ != kMaxWorld);
    for (std::size_t i = 0; !stale && i < record.lookups.size(); ++i) {
        const detail::LookupRecord& l = record.lookups[i];
        stale = world.answer_max_world(*l.f, l.tt, *l.table, l.world) != kMaxWorld;
    }
    if (stale) {
        stale_.fetch_add(1, std::memory_order_relaxed);
        log().debug("discarding {} compiled in world {}: a definition changed what it read",
                    record.mi->str(), record.world);
        return nullptr;
    }
    CodeInstance* raw = ci.get();
    raw->min_world_ = record.min_world;
    auto& deps = record.dependencies;
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    raw->dependencies_ = std::move(deps);
    raw->compile_time_ = time;
    world.link(*raw, *core_, std::move(ci), record);
    e.ci.store(raw, std::memory_order_release);
    return raw;
}

void CacheBase::cancel(detail::CompileRecord& record) {
    if (!record.active)
        return;
    auto& world = detail::WorldState::instance();
    std::unique_lock lock(world.mutex());
    world.end_compile(record);
    record.active = false;
}

void CacheBase::finish(detail::Entry& e, const std::shared_ptr<detail::InFlight>& flight,
                       const CodeInstance* ci, std::exception_ptr error, std::uint64_t world) {
    {
        std::lock_guard lock(mutex_);
        e.in_flight.reset();
        flight->done = true;
        flight->ci = ci;
        flight->world = world;
        flight->error = std::move(error);
    }
    cv_.notify_all();
}

void CacheBase::add_dependency(detail::CompileRecord& record, MethodInstance& callee,
                               const CodeInstance* via) {
    auto& world = detail::WorldState::instance();
    std::unique_lock lock(world.mutex());
    // A callee compiled through the cache is current if its code instance still is; one looked
    // up by hand is current unless something invalidated it since this compilation began.
    if (via ? !via->valid_at(world.world()) : callee.last_invalidated_world_ > record.world)
        record.doomed = true;
    if (via)
        record.min_world = std::max(record.min_world, via->min_world());
    record.dependencies.push_back(&callee);
}

MethodInstance* CacheBase::dispatch_for(detail::CompileRecord& record, const Function& f,
                                        Type tt) const {
    auto& state = detail::WorldState::instance();
    // Shared is enough to write the record: only invalidation, which holds the lock exclusive,
    // reads another thread's record.
    std::shared_lock lock(state.mutex());
    const MethodLookup found = state.dispatch(f, tt, *method_table_, record.world);
    record.lookups.push_back({&f, tt, method_table_, record.world, found.mi != nullptr});
    if (found.mi) {
        record.min_world = std::max(record.min_world, found.min_world);
        if (found.mi->last_invalidated_world_ > record.world)
            record.doomed = true;
        record.dependencies.push_back(found.mi);
    }
    return found.mi;
}

} // namespace kcache
