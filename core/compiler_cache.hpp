// CompilerCache and cached_compilation: lazy compilation with caching, after CompilerCaching.jl.
//
//   CompilerCache<Kernel, ShardKey> cache("MyCompiler");
//   auto k = cached_compilation(cache, f, tt_of<float, float*>(), ShardKey{...},
//                               [](auto& ctx) { return compile(ctx.mi()); });
//
// A cache holds code instances per (method instance, sharding key), valid in the current world.
// A hit costs a hash probe and a few atomic loads: no lock, no allocation. A miss dispatches,
// runs the compile function once (concurrent misses on one entry wait and share the result or
// the error), and links the result in with the dependencies the compilation registered, so that
// a redefinition invalidates it and everything compiled from it. A call site that asks again and
// again keeps a CacheHandle (core/cache_handle.hpp), whose hit is a world check, not a probe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/cache_entries.hpp"
#include "core/code_instance.hpp"
#include "core/compile_record.hpp"
#include "core/dispatch.hpp"
#include "core/function_ref.hpp"
#include "core/invalidation.hpp"
#include "core/method_table.hpp"
#include "core/published_table.hpp"
#include "core/striped_counter.hpp"
#include "core/types.hpp"

namespace kcache {

/// The sharding key of a cache that is not sharded.
struct NoKey {
    friend bool operator==(NoKey, NoKey) { return true; }
};

} // namespace kcache

template <>
struct std::hash<kcache::NoKey> {
    std::size_t operator()(kcache::NoKey) const noexcept { return 0; }
};

namespace kcache {

struct CacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;        ///< lookups that found no valid code instance
    std::uint64_t compilations = 0;  ///< compile-function runs that returned (retries included)
    std::uint64_t invalidations = 0; ///< code instances of this cache invalidated
    std::uint64_t entries = 0;       ///< distinct (function, types, key) looked up
    std::uint64_t waits = 0;         ///< times a thread waited for another thread's compilation
    std::uint64_t waiting = 0;       ///< threads waiting for another thread's compilation right now
    std::uint64_t stale = 0;         ///< results discarded: a definition changed what they read
    std::chrono::nanoseconds compile_time{};
};

/// Untyped machinery shared by every CompilerCache instantiation.
/// Thread-safety: every public operation is thread-safe; a cache must outlive its users.
class CacheBase {
public:
    const std::string& tag() const;
    MethodTable& method_table() const { return *method_table_; }
    CacheStats stats() const;
    /// Subscribes to invalidations of this cache's code instances; called outside locks.
    [[nodiscard]] Subscription add_invalidation_listener(InvalidationListener listener);

    CacheBase(const CacheBase&) = delete;
    CacheBase& operator=(const CacheBase&) = delete;

protected:
    /// Throws InvalidArgumentError for an empty tag.
    CacheBase(std::string tag, MethodTable& table);
    ~CacheBase();

    /// The valid code instance for an entry probe, or nullptr. Lock-free, allocation-free.
    template <class Equal>
    const CodeInstance* probe(std::size_t hash, Equal&& equal) const noexcept {
        const std::uint64_t world = detail::world_now(); // before the code instance: see add_method
        const detail::Entry* e = entry_table_.find(hash, equal);
        if (!e)
            return nullptr;
        const CodeInstance* ci = e->ci.load(std::memory_order_acquire);
        if (ci && ci->max_world() >= world) {
            hits_.add();
            return ci;
        }
        return nullptr;
    }

    // --- the miss path --------------------------------------------------------------------
    struct Acquired {
        enum Kind { Ready, Compile, NoMethod } kind;
        const CodeInstance* ci = nullptr;
        std::shared_ptr<detail::InFlight> flight;
    };
    /// Under the cache mutex: the entry equal to `equal`, or nullptr.
    template <class Equal>
    detail::Entry* find_locked(std::size_t hash, Equal&& equal) const {
        return entry_table_.find(hash, equal);
    }
    detail::Entry& insert_locked(std::unique_ptr<detail::Entry> entry);
    CacheShard& add_shard_locked(std::unique_ptr<CacheShard> shard);
    detail::CacheCore& core() { return *core_; }

    /// Returns Ready (a valid code instance, maybe compiled by another thread while this one
    /// waited), NoMethod, or Compile: this thread is now the one compiling the entry.
    Acquired acquire(detail::Entry& e);
    /// Dispatches the entry in the current world (a pinned entry: checks its method is still
    /// current, else throws StaleMethodInstanceError) and registers the compilation as active.
    MethodInstance* begin_compile(detail::Entry& e, detail::CompileRecord& record);
    /// Links the result in, unless an invalidation doomed the compilation or the answer of a
    /// lookup it made no longer holds (then nullptr: compile again in the new world).
    const CodeInstance* commit(detail::Entry& e, detail::CompileRecord& record,
                               std::unique_ptr<CodeInstance> ci, std::chrono::nanoseconds time);
    void cancel(detail::CompileRecord& record);
    void finish(detail::Entry& e, const std::shared_ptr<detail::InFlight>& flight,
                const CodeInstance* ci, std::exception_ptr error, std::uint64_t world = 0);
    void add_dependency(detail::CompileRecord& record, MethodInstance& callee,
                        const CodeInstance* via);
    /// Dispatch in the compilation's world, recorded as a lookup (and, when a method applies,
    /// a dependency) of the compilation.
    MethodInstance* dispatch_for(detail::CompileRecord& record, const Function& f, Type tt) const;

    /// Guards entries, shards and in-flight compilations.
    std::mutex& entries_mutex() const { return mutex_; }
    void count_miss() noexcept { misses_.fetch_add(1, std::memory_order_relaxed); }
    void count_hit() const noexcept { hits_.add(); }
    void count_compilation(std::chrono::nanoseconds time) noexcept;

private:
    std::string describe(const detail::Entry& e) const;

    MethodTable* method_table_;
    std::shared_ptr<detail::CacheCore> core_;
    mutable std::mutex mutex_;
    detail::PublishedTable<detail::Entry> entry_table_; // inserts under mutex_
    std::vector<std::unique_ptr<detail::Entry>> entries_;
    std::condition_variable cv_;
    std::unordered_map<std::thread::id, detail::InFlight*> waiting_;

    mutable StripedCounter hits_;
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> waits_{0};
    std::atomic<std::uint64_t> stale_{0};
    std::atomic<std::uint64_t> compilations_{0};
    std::atomic<std::int64_t> compile_ns_{0};
};

template <class Result, class Key = NoKey, class KeyHash = std::hash<Key>>
class CompilerCache;
template <class Result, class Key, class KeyHash>
class CacheHandle;

/// What a compile function gets: the method instance to compile, the world and key it compiles
/// for, and ways to record what it depends on. Lives only during the compile function's call.
/// Thread-safety: use it only from the thread that runs the compile function.
template <class Result, class Key, class KeyHash>
class CompilationContext {
public:
    using Cache = CompilerCache<Result, Key, KeyHash>;
    using CompileFn = FunctionRef<Result(CompilationContext&)>;

    const MethodInstance& mi() const { return *mi_; }
    std::uint64_t world() const;
    const Key& key() const { return key_; }
    Cache& cache() const { return cache_; }

    /// Records that this compilation used `callee`: redefining it, or changing what it
    /// dispatches to, invalidates this result.
    void register_dependency(const MethodInstance& callee) {
        cache_.add_dependency(*record_, const_cast<MethodInstance&>(callee), nullptr);
    }
    /// Dispatch through the cache's method table, in this compilation's world. The lookup is
    /// an edge of the result, as in Julia: the result is served only while its answer holds (a
    /// definition that changes it, even one that raced this compilation, invalidates the result
    /// or makes this compilation run again), and a method instance found is a dependency.
    MethodInstance* method_instance(const Function& f, Type tt) const {
        return cache_.dispatch_for(*record_, f, tt);
    }
    /// Compiles (or finds) a callee through the same cache and key with the same compile
    /// function, and registers the dependency. Throws MethodError when no method applies and
    /// CompilationCycleError when the callee is being compiled and needs this compilation.
    const Result& compile(const Function& f, Type tt) { return compile(f, tt, compile_fn_); }
    template <class Fn>
    const Result& compile(const Function& f, Type tt, Fn&& compile_fn) {
        const CodeInstance* ci = cache_.lookup_or_compile(f, tt, key_, compile_fn);
        if (!ci)
            throw_method_error(f, tt, cache_.method_table());
        cache_.add_dependency(*record_, const_cast<MethodInstance&>(ci->mi()), ci);
        return static_cast<const TypedCodeInstance<Result>*>(ci)->result();
    }

private:
    friend Cache;
    CompilationContext(Cache& cache, MethodInstance& mi, detail::CompileRecord& record,
                       const Key& key, CompileFn fn)
        : cache_(cache), mi_(&mi), record_(&record), key_(key), compile_fn_(fn) {}

    Cache& cache_;
    MethodInstance* mi_;
    detail::CompileRecord* record_;
    const Key& key_;
    CompileFn compile_fn_;
};

/// A compilation cache: code instances of one compiler (named by `tag`), over one method table,
/// sharded by `Key` (any copyable value with == and a hash, e.g. {arch, opt_level}). Results are
/// returned by copy: make Result cheap to copy (a handle, a pointer, a shared_ptr).
/// Invalidated results stay alive until the cache is destroyed (a thread may still be copying
/// one); release heavy resources (device modules) from an invalidation listener.
/// Thread-safety: every operation is thread-safe; destroy the cache only when no thread uses it.
template <class Result, class Key, class KeyHash>
class CompilerCache : public CacheBase {
public:
    using Context = CompilationContext<Result, Key, KeyHash>;
    using CodeInstanceType = TypedCodeInstance<Result>;
    using Handle = CacheHandle<Result, Key, KeyHash>;

    explicit CompilerCache(std::string tag, MethodTable& table = MethodTable::global())
        : CacheBase(std::move(tag), table) {}

    /// The valid result for (f, tt, key) in the current world, without compiling.
    const Result* lookup(const Function& f, Type tt, const Key& key = Key()) const noexcept {
        const CodeInstanceType* ci = lookup_code_instance(f, tt, key);
        return ci ? &ci->result() : nullptr;
    }
    /// The valid code instance for (f, tt, key) in the current world, without compiling.
    const CodeInstanceType* lookup_code_instance(const Function& f, Type tt,
                                                 const Key& key = Key()) const noexcept {
        return static_cast<const CodeInstanceType*>(lookup_ci(f, tt, key, nullptr));
    }
    /// The valid code instance compiled for exactly `mi` (cached_compilation by method
    /// instance), without compiling.
    const CodeInstanceType* lookup_code_instance(const MethodInstance& mi,
                                                 const Key& key = Key()) const noexcept {
        return static_cast<const CodeInstanceType*>(
            lookup_ci(mi.function(), mi.spec_types(), key, &mi));
    }

    /// The result held by one of this cache's code instances (e.g. in a listener).
    static const Result& result_of(const CodeInstance& ci) {
        return static_cast<const CodeInstanceType&>(ci).result();
    }
    /// The sharding key a code instance of this cache was compiled for.
    static const Key& key_of(const CodeInstance& ci) {
        return static_cast<const detail::KeyedShard<Key>&>(ci.owner()).key;
    }

    /// The code instance for (f, tt, key), compiled with `compile_fn` if needed; nullptr when no
    /// method applies.
    template <class Fn>
    const CodeInstanceType* lookup_or_compile(const Function& f, Type tt, const Key& key,
                                              Fn&& compile_fn) {
        if (const CodeInstance* ci = lookup_ci(f, tt, key, nullptr)) [[likely]]
            return static_cast<const CodeInstanceType*>(ci);
        return static_cast<const CodeInstanceType*>(
            compile_slow(f, tt, nullptr, key, typename Context::CompileFn(compile_fn)));
    }
    /// The code instance compiled for exactly `mi` with `compile_fn` if needed, whatever (f, tt)
    /// dispatches to now. Throws StaleMethodInstanceError when mi's method has been replaced.
    template <class Fn>
    const CodeInstanceType* lookup_or_compile(const MethodInstance& mi, const Key& key,
                                              Fn&& compile_fn) {
        if (const CodeInstanceType* ci = lookup_code_instance(mi, key)) [[likely]]
            return ci;
        return static_cast<const CodeInstanceType*>(compile_slow(
            mi.function(), mi.spec_types(), &mi, key, typename Context::CompileFn(compile_fn)));
    }

    /// A handle on (f, tt, key): a call site whose hit is a world check (core/cache_handle.hpp).
    /// Throws AbstractTypeError (and the other errors of a bad tt) at once; compiles nothing.
    Handle handle(const Function& f, Type tt, const Key& key = Key());

private:
    friend Context;
    friend Handle;

    const CodeInstance* lookup_ci(const Function& f, Type tt, const Key& key,
                                  const MethodInstance* pinned) const noexcept {
        const std::size_t h = detail::entry_hash(f, tt, KeyHash{}(key), pinned);
        return probe(h, [&](const detail::Entry& e) {
            return e.f == &f && e.tt == tt && e.pinned == pinned &&
                   static_cast<const detail::KeyedEntry<Key>&>(e).key == key;
        });
    }

    detail::Entry& entry_locked(const Function& f, Type tt, const MethodInstance* pinned,
                                const Key& key, std::size_t h) {
        auto equal = [&](const detail::Entry& e) {
            return e.f == &f && e.tt == tt && e.pinned == pinned &&
                   static_cast<const detail::KeyedEntry<Key>&>(e).key == key;
        };
        if (detail::Entry* e = find_locked(h, equal))
            return *e;
        auto [it, inserted] = shards_.try_emplace(key, nullptr);
        if (inserted)
            it->second = &add_shard_locked(
                std::make_unique<detail::KeyedShard<Key>>(core(), shards_.size() - 1, key));
        auto entry = std::make_unique<detail::KeyedEntry<Key>>(key);
        entry->f = &f;
        entry->tt = tt;
        entry->pinned = pinned;
        entry->shard = it->second;
        entry->hash = h;
        return insert_locked(std::move(entry));
    }

    [[gnu::noinline]] const CodeInstance* compile_slow(const Function& f, Type tt,
                                                       const MethodInstance* pinned, const Key& key,
                                                       typename Context::CompileFn compile_fn);
    /// The entry for (f, tt, pinned, key), made if new. Checks tt first.
    detail::Entry& entry_for(const Function& f, Type tt, const MethodInstance* pinned,
                             const Key& key);
    /// The miss path on one entry: waits for or runs its compilation; nullptr when no method
    /// applies.
    const CodeInstance* compile_entry(detail::Entry& entry, typename Context::CompileFn compile_fn);

    std::unordered_map<Key, CacheShard*, KeyHash> shards_; // guarded by entries_mutex()
};

template <class Result, class Key, class KeyHash>
std::uint64_t CompilationContext<Result, Key, KeyHash>::world() const {
    return record_->world;
}

template <class Result, class Key, class KeyHash>
const CodeInstance*
CompilerCache<Result, Key, KeyHash>::compile_slow(const Function& f, Type tt,
                                                  const MethodInstance* pinned, const Key& key,
                                                  typename Context::CompileFn compile_fn) {
    detail::Entry& entry = entry_for(f, tt, pinned, key);
    return compile_entry(entry, compile_fn);
}

template <class Result, class Key, class KeyHash>
detail::Entry& CompilerCache<Result, Key, KeyHash>::entry_for(const Function& f, Type tt,
                                                              const MethodInstance* pinned,
                                                              const Key& key) {
    detail::check_call_types(f, tt); // before anything is recorded for a bad tt
    const std::size_t h = detail::entry_hash(f, tt, KeyHash{}(key), pinned);
    std::lock_guard lock(entries_mutex());
    return entry_locked(f, tt, pinned, key, h);
}

template <class Result, class Key, class KeyHash>
const CodeInstance*
CompilerCache<Result, Key, KeyHash>::compile_entry(detail::Entry& entry,
                                                   typename Context::CompileFn compile_fn) {
    count_miss();
    const Key& key = static_cast<const detail::KeyedEntry<Key>&>(entry).key;
    Acquired acquired = acquire(entry);
    if (acquired.kind == Acquired::Ready)
        return acquired.ci;
    if (acquired.kind == Acquired::NoMethod)
        return nullptr;

    detail::CompileRecord record;
    try {
        for (;;) {
            record = detail::CompileRecord{};
            MethodInstance* mi = begin_compile(entry, record);
            if (!mi) {
                finish(entry, acquired.flight, nullptr, nullptr, record.world);
                return nullptr;
            }
            Context ctx(*this, *mi, record, key, compile_fn);
            const auto start = std::chrono::steady_clock::now();
            Result result = compile_fn(ctx);
            const auto time = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - start);
            count_compilation(time);
            auto ci = std::make_unique<CodeInstanceType>(*mi, *entry.shard, std::move(result));
            if (const CodeInstance* committed = commit(entry, record, std::move(ci), time)) {
                finish(entry, acquired.flight, committed, nullptr);
                return committed;
            }
            // A definition raced this compilation and touched what it read: compile again in
            // the new world rather than serve a stale result.
        }
    } catch (...) {
        cancel(record);
        finish(entry, acquired.flight, nullptr, std::current_exception());
        throw;
    }
}

/// Julia's `cached_compilation(cache, f, tt, key, compile_fn)`: the result cached for the
/// method instance that (f, tt) dispatches to, the cache and the key, valid in the current
/// world; or `compile_fn(ctx)` run once and its result cached. Empty when no method applies.
/// Throws AbstractTypeError, AmbiguityError, and whatever compile_fn throws (nothing is cached
/// then; the next call compiles again).
template <class Result, class Key, class KeyHash, class Fn>
std::optional<Result> cached_compilation(CompilerCache<Result, Key, KeyHash>& cache,
                                         const Function& f, Type tt, const Key& key,
                                         Fn&& compile_fn) {
    if (const CodeInstance* ci = cache.lookup_or_compile(f, tt, key, compile_fn))
        return CompilerCache<Result, Key, KeyHash>::result_of(*ci);
    return std::nullopt;
}

/// cached_compilation for a cache without sharding key.
template <class Result, class KeyHash, class Fn>
requires std::is_invocable_v < Fn&, CompilationContext<Result, NoKey, KeyHash>
& > std::optional<Result> cached_compilation(CompilerCache<Result, NoKey, KeyHash>& cache,
                                             const Function& f, Type tt, Fn&& compile_fn) {
    return cached_compilation(cache, f, tt, NoKey{}, std::forward<Fn>(compile_fn));
}

/// Julia's `cached_compilation(cache, mi)`: the result cached for exactly the method instance
/// `mi` (not what its call dispatches to now), compiled with `compile_fn` if needed. Throws
/// StaleMethodInstanceError when mi's method has been replaced (dispatch again), and whatever
/// compile_fn throws.
template <class Result, class Key, class KeyHash, class Fn>
Result cached_compilation(CompilerCache<Result, Key, KeyHash>& cache, const MethodInstance& mi,
                          const Key& key, Fn&& compile_fn) {
    return cache.lookup_or_compile(mi, key, compile_fn)->result();
}

template <class Result, class KeyHash, class Fn>
requires std::is_invocable_v < Fn&, CompilationContext<Result, NoKey, KeyHash>
& > Result cached_compilation(CompilerCache<Result, NoKey, KeyHash>& cache,
                              const MethodInstance& mi, Fn&& compile_fn) {
    return cached_compilation(cache, mi, NoKey{}, std::forward<Fn>(compile_fn));
}

/// Like cached_compilation, but gives the code instance itself: its identity, its validity
/// range and dependencies, and its result by reference (`ci->result()`), valid as long as the
/// cache. nullptr when no method applies.
template <class Result, class Key, class KeyHash, class Fn>
const TypedCodeInstance<Result>* cached_code_instance(CompilerCache<Result, Key, KeyHash>& cache,
                                                      const Function& f, Type tt, const Key& key,
                                                      Fn&& compile_fn) {
    return cache.lookup_or_compile(f, tt, key, compile_fn);
}

template <class Result, class KeyHash, class Fn>
requires std::is_invocable_v < Fn&, CompilationContext<Result, NoKey, KeyHash>
& > const TypedCodeInstance<Result>*
    cached_code_instance(CompilerCache<Result, NoKey, KeyHash>& cache, const Function& f, Type tt,
                         Fn&& compile_fn) {
    return cache.lookup_or_compile(f, tt, NoKey{}, compile_fn);
}

/// The seed's `add_method(cache, f, arg_types, source)`: adds to the cache's method table.
template <class Result, class Key, class KeyHash, class Source>
Method& add_method(CompilerCache<Result, Key, KeyHash>& cache, Function& f, Signature sig,
                   Source source) {
    return add_method(cache.method_table(), f, std::move(sig), std::move(source));
}

} // namespace kcache

#include "core/cache_handle.hpp" // CompilerCache::handle
