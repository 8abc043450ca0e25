// Internal: the process-wide state behind world age, method tables, dispatch, backedges and
// invalidation. One shared_mutex, the world lock, guards all of it: definitions and cache
// commits take it exclusive, dispatch takes it shared, and the cache hit path never takes it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>
#include <vector>

#include "core/code_instance.hpp"
#include "core/compile_record.hpp"
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

    MethodTable& global_table() { return *global_; }
    MethodTable& create_table(std::string name, MethodTable* parent);

    Method& add_method(MethodTable& table, Function& f, Signature sig,
                       std::shared_ptr<const void> source, std::type_index source_type);

    /// Caller holds the world lock (either mode).
    MethodInstance* dispatch(const Function& f, Type tt, const MethodTable& table,
                             std::uint64_t world);
    [[noreturn]] void throw_method_error(const Function& f, Type tt, const MethodTable& table,
                                         std::uint64_t world);

    // --- for caches; callers hold the world lock exclusive ---------------------------------
    void begin_compile(CompileRecord& record);
    void end_compile(CompileRecord& record);
    /// Links a finished compilation in: adds the code instance and its backedges.
    void link(CodeInstance& ci, CacheCore& core, std::unique_ptr<CodeInstance> owned);
    /// Removes every trace of a cache's code instances (the cache is going away).
    void unlink_cache(CacheCore& core);

    const std::shared_ptr<ListenerList>& global_listeners() const { return global_listeners_; }

private:
    WorldState();

    struct Affected {
        MethodInstance* mi;
        const MethodTable* scope; // nullptr: every cache; else caches that see this table
    };
    /// Marks code instances invalid in `new_world`, transitively. Caller holds the lock.
    std::vector<CodeInstance*> invalidate(const std::vector<Affected>& affected,
                                          std::uint64_t new_world);
    void notify(std::uint64_t world, const std::vector<CodeInstance*>& invalidated);
    void clear_dispatch_caches(MethodTable& table, const Function& f);

    std::shared_mutex mutex_;
    std::atomic<std::uint64_t> world_{1};
    std::vector<std::unique_ptr<MethodTable>> tables_;
    std::vector<std::unique_ptr<Method>> methods_;
    MethodTable* global_ = nullptr;
    std::vector<CompileRecord*> active_compiles_;
    std::shared_ptr<ListenerList> global_listeners_ = std::make_shared<ListenerList>();
};

} // namespace kcache::detail
