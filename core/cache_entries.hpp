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

/// Open-addressed, power-of-two table of entries. Readers probe it without locks; writers (under
/// the cache's mutex) fill empty slots or publish a bigger table. Entries are never removed.
struct EntryTable {
    explicit EntryTable(std::size_t capacity)
        : mask(capacity - 1), slots(new std::atomic<Entry*>[capacity]) {
        for (std::size_t i = 0; i < capacity; ++i)
            slots[i].store(nullptr, std::memory_order_relaxed);
    }
    std::size_t mask;
    std::unique_ptr<std::atomic<Entry*>[]> slots;
};

inline std::size_t entry_hash(const Function& f, Type tt, std::size_t key_hash,
                              const MethodInstance* pinned = nullptr) noexcept {
    const std::size_t h =
        f.id() * 0x9E3779B97F4A7C15ULL ^ tt.hash() ^ reinterpret_cast<std::uintptr_t>(pinned);
    return hash_finalize(hash_combine(h, key_hash));
}

std::uint64_t world_now() noexcept;

} // namespace detail
} // namespace kcache
