// Internal: the process-wide state behind world age, method tables, dispatch, backedges and
// invalidation. One shared_mutex, the world lock, guards all of it: definitions and cache
// commits take it exclusive, dispatch takes it shared, and the cache hit path never takes it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/code_instance.hpp"
#include "core/compile_record.hpp"
#include "core/dispatch.hpp"
#include "core/invalidation.hpp"
#include "core/method_instance.hpp"
#include "core/method_table.hpp"

namespace kcache::detail {

/// What every cache shares with the world: its table, its listeners, and its code instances,
/// kept alive while listeners run even if the cache is being destroyed.
struct CacheCore : std::enable_shared_from_this<CacheCore> {
    std::string tag;
    const MethodTable* table = nullptr;
    std::shared_ptr<ListenerList> listeners = std::make_shared<ListenerList>();
    std::vector<std::unique_ptr<CodeInstance>> code_instances; // world lock
    std::vector<std::unique_ptr<CacheShard>> shards;           // the cache's own mutex
    std::atomic<std::uint64_t> invalidations{0};
};

class WorldState {
public:
    static WorldState& instance();

    std::shared_mutex& mutex() { return mutex_; }
    std::uint64_t world() const { return world_.load(std::memory_order_acquire); }
    const std::atomic<std::uint64_t>& world_counter() const { return world_; }

    MethodTable& global_table() { return *global_; }
    MethodTable& create_table(std::string name, MethodTable* parent);

    Method& add_method(MethodTable& table, Function& f, Signature sig,
                       std::shared_ptr<const void> source, std::type_index source_type);

    /// Caller holds the world lock (either mode).
    MethodLookup dispatch(const Function& f, Type tt, const MethodTable& table,
                          std::uint64_t world);
    /// The last world in which the answer of dispatching (f, tt) through `table` in `world`
    /// still holds (kMaxWorld while it is current). Caller holds the world lock.
    std::uint64_t answer_max_world(const Function& f, Type tt, const MethodTable& table,
                                   std::uint64_t world) const;
    [[noreturn]] void throw_method_error(const Function& f, Type tt, const MethodTable& table,
                                         std::uint64_t world);

    // --- for caches; callers hold the world lock exclusive ---------------------------------
    void begin_compile(CompileRecord& record);
    void end_compile(CompileRecord& record);
    /// Links a finished compilation in: adds the code instance, its backedges, and an edge for
    /// each lookup of the record that found no method.
    void link(CodeInstance& ci, CacheCore& core, std::unique_ptr<CodeInstance> owned,
              const CompileRecord& record);
    /// Removes every trace of a cache's code instances (the cache is going away).
    void unlink_cache(CacheCore& core);

    const std::shared_ptr<ListenerList>& global_listeners() const { return global_listeners_; }

private:
    WorldState();

    struct Affected {
        MethodInstance* mi;
        const MethodTable* scope; // nullptr: every cache; else caches that see this table
    };
    /// A code instance whose compilation found no method for (f, tt) through `table`: the
    /// first method that applies invalidates it (Julia's method-table backedges).
    struct NoMethodEdge {
        Type tt;
        const MethodTable* table;
        CodeInstance* ci;
    };
    /// Marks code instances invalid in `new_world`, transitively: those of the affected method
    /// instances and `direct` ones, and their dependents. Caller holds the lock.
    std::vector<CodeInstance*> invalidate(const std::vector<Affected>& affected,
                                          std::vector<CodeInstance*> direct,
                                          std::uint64_t new_world);
    /// The code instances whose "no method" edges a new method of `f` in `table` breaks.
    std::vector<CodeInstance*> take_no_method_edges(const MethodTable& table, const Function& f,
                                                    const Method& added);
    void notify(std::uint64_t world, const std::vector<CodeInstance*>& invalidated);
    void clear_dispatch_caches(MethodTable& table, const Function& f);

    std::shared_mutex mutex_;
    std::atomic<std::uint64_t> world_{1};
    std::vector<std::unique_ptr<MethodTable>> tables_;
    std::vector<std::unique_ptr<Method>> methods_;
    MethodTable* global_ = nullptr;
    std::vector<CompileRecord*> active_compiles_;
    std::unordered_map<const Function*, std::vector<NoMethodEdge>> no_method_edges_;
    std::shared_ptr<ListenerList> global_listeners_ = std::make_shared<ListenerList>();
};

} // namespace kcache::detail
