// CacheHandle: a call site on one (function, argument types, key) of a CompilerCache, kept
// resolved so that a hit is a check of the world counter instead of a hash probe.
//
//   auto h = cache.handle(f, tt_of<float, float*>(), ShardKey{"sm_90", 3});
//   const Kernel* k = h.get([](auto& ctx) { return compile(ctx.mi()); }); // as cached_compilation
//
// The handle holds the cache's entry for (f, tt, key). A hit loads the world counter, compares it
// with the world in which the entry's code instance was last found valid, and loads that code
// instance: no hash, no lock, no allocation. Once any definition has moved the world, the next
// call checks the code instance against the new world (every handle on the entry shares that
// check) and, when a redefinition has invalidated it, compiles again exactly as
// cached_compilation does. So a handle never serves code that a definition made before the call
// invalidated, and redefinitions of unrelated functions cost its users one check each.
//
// Thread-safety: a small copyable value; any number of threads may use one handle, or copies of
// it, at once. The cache must outlive its handles.
#pragma once

#include "core/compiler_cache.hpp"

namespace kcache {

template <class Result, class Key, class KeyHash>
class CacheHandle {
public:
    using Cache = CompilerCache<Result, Key, KeyHash>;
    using CodeInstanceType = TypedCodeInstance<Result>;

    /// The result for the current world, compiled with `compile_fn` if needed; nullptr when no
    /// method applies. The result lives as long as the cache. Throws what cached_compilation
    /// throws (nothing is cached then).
    template <class Fn>
    const Result* get(Fn&& compile_fn) const {
        const CodeInstanceType* ci = code_instance(compile_fn);
        return ci ? &ci->result() : nullptr;
    }
    /// Like get(), but gives the code instance itself (identity, world range, dependencies).
    template <class Fn>
    const CodeInstanceType* code_instance(Fn&& compile_fn) const {
        if (const CodeInstanceType* ci = current()) [[likely]]
            return ci;
        return revalidate(typename Cache::Context::CompileFn(compile_fn));
    }
    /// The code instance valid in the current world, without compiling; nullptr when there is
    /// none (never compiled, or invalidated since).
    const CodeInstanceType* lookup_code_instance() const noexcept {
        if (const CodeInstanceType* ci = current()) [[likely]]
            return ci;
        return check(true);
    }
    const Result* lookup() const noexcept {
        const CodeInstanceType* ci = lookup_code_instance();
        return ci ? &ci->result() : nullptr;
    }

    const Function& function() const { return *entry_->f; }
    Type types() const { return entry_->tt; }
    const Key& key() const { return static_cast<const detail::KeyedEntry<Key>&>(*entry_).key; }
    Cache& cache() const { return *cache_; }

private:
    friend Cache;
    CacheHandle(Cache& cache, detail::Entry& entry)
        : cache_(&cache), entry_(&entry), world_(&detail::world_counter()) {}

    // The hit: nothing has been defined since the entry's code instance was last found valid.
    const CodeInstanceType* current() const noexcept {
        if (world_->load(std::memory_order_acquire) ==
            entry_->checked_world.load(std::memory_order_acquire)) [[likely]] {
            cache_->count_hit();
            return static_cast<const CodeInstanceType*>(entry_->ci.load(std::memory_order_acquire));
        }
        return nullptr;
    }
    // The entry's code instance if it is valid in the current world, which is then recorded for
    // the next hits; else nullptr. The world is read first: see CacheBase::probe.
    const CodeInstanceType* check(bool count) const noexcept {
        const std::uint64_t world = world_->load(std::memory_order_acquire);
        const CodeInstance* ci = entry_->ci.load(std::memory_order_acquire);
        if (!ci || !ci->valid_at(world))
            return nullptr;
        entry_->checked_world.store(world, std::memory_order_release);
        if (count)
            cache_->count_hit();
        return static_cast<const CodeInstanceType*>(ci);
    }
    [[gnu::noinline]] const CodeInstanceType*
    revalidate(typename Cache::Context::CompileFn compile_fn) const {
        for (bool compiled = false;; compiled = true) {
            if (const CodeInstanceType* ci = check(!compiled))
                return ci;
            // Invalidated (or never compiled): the miss path on this very entry. Its result is
            // checked again against the world of the next round, where a definition that raced
            // the commit shows.
            if (!cache_->compile_entry(*entry_, compile_fn))
                return nullptr;
        }
    }

    Cache* cache_;
    detail::Entry* entry_;
    const std::atomic<std::uint64_t>* world_;
};

template <class Result, class Key, class KeyHash>
CacheHandle<Result, Key, KeyHash>
CompilerCache<Result, Key, KeyHash>::handle(const Function& f, Type tt, const Key& key) {
    return Handle(*this, entry_for(f, tt, nullptr, key));
}

} // namespace kcache
