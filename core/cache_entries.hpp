// Internal: the entries of a CompilerCache and the compilations in flight on them. Only
// core/compiler_cache.{hpp,cpp} use these.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <thread>

#include "core/code_instance.hpp"
#include "core/function.hpp"
#include "core/hash.hpp"
#include "core/types.hpp"

namespace kcache {
namespace detail {

struct Entry;
struct CacheCore;

/// One compilation in progress, shared by the threads waiting for it.
struct InFlight {
    std::thread::id owner;
    const Entry* entry = nullptr;
    bool done = false;
    const CodeInstance* ci = nullptr;
    std::uint64_t world = 0; // where "no method" was found
    std::exception_ptr error;
};

/// One (function, argument types, key) a cache was asked for, and its current code instance.
/// A pinned entry compiles one given method instance instead of dispatching (f, tt).
struct Entry {
    const Function* f = nullptr;
    Type tt;
    const MethodInstance* pinned = nullptr;
    CacheShard* shard = nullptr;
    std::size_t hash = 0;
    std::atomic<const CodeInstance*> ci{nullptr};
    /// A world in which `ci` was found valid by a CacheHandle, or 0. `ci` only ever changes to a
    /// code instance committed after its predecessor was invalidated, i.e. in a later world, so
    /// while the world counter still equals this, `ci` is valid (or newer): a handle's hit.
    std::atomic<std::uint64_t> checked_world{0};
    std::shared_ptr<InFlight> in_flight; // guarded by the cache's mutex
    virtual ~Entry() = default;
};

template <class K>
struct KeyedEntry final : Entry {
    explicit KeyedEntry(const K& k) : key(k) {}
    K key;
};

template <class K>
class KeyedShard final : public CacheShard {
public:
    KeyedShard(CacheCore& core, std::size_t index, const K& k) : CacheShard(core, index), key(k) {}
    K key;
};

inline std::size_t entry_hash(const Function& f, Type tt, std::size_t key_hash,
                              const MethodInstance* pinned = nullptr) noexcept {
    const std::size_t h =
        f.id() * 0x9E3779B97F4A7C15ULL ^ tt.hash() ^ reinterpret_cast<std::uintptr_t>(pinned);
    return hash_finalize(hash_combine(h, key_hash));
}

std::uint64_t world_now() noexcept;
/// The world counter itself, for handles that compare against it without a call.
const std::atomic<std::uint64_t>& world_counter() noexcept;

} // namespace detail
} // namespace kcache
