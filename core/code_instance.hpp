// A code instance: one compilation result for a method instance, owned by one cache shard (a
// cache and one sharding key), valid over a range of worlds, with the method instances its
// compilation depended on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/method_instance.hpp"

namespace kcache {

class CacheBase;
namespace detail {
struct CacheCore;
class WorldState;
} // namespace detail

/// The (cache, key) partition that owns code instances. Thread-safety: immutable.
class CacheShard {
public:
    /// The owning cache's tag.
    const std::string& tag() const;
    /// Dense per-cache index of the key, in order of first use.
    std::size_t index() const { return index_; }
    virtual ~CacheShard() = default;

protected:
    CacheShard(detail::CacheCore& core, std::size_t index) : core_(&core), index_(index) {}

private:
    friend class CacheBase;
    friend class detail::WorldState;
    detail::CacheCore* core_;
    std::size_t index_;
};

/// Thread-safety: accessors are thread-safe. A code instance lives as long as its cache: an
/// invalidated one stays readable (a thread may still hold its result) but is never served.
class CodeInstance {
public:
    static constexpr std::uint64_t kMaxWorld = kcache::kMaxWorld;

    const MethodInstance& mi() const { return *mi_; }
    const CacheShard& owner() const { return *owner_; }
    /// Valid in worlds [min_world, max_world]; max_world is kMaxWorld until invalidated.
    std::uint64_t min_world() const { return min_world_; }
    std::uint64_t max_world() const { return max_world_.load(std::memory_order_acquire); }
    bool valid_at(std::uint64_t world) const { return min_world_ <= world && world <= max_world(); }
    /// The method instances whose code this compilation used (its backedges point here).
    std::span<MethodInstance* const> dependencies() const { return dependencies_; }
    std::chrono::nanoseconds compile_time() const { return compile_time_; }

    virtual ~CodeInstance() = default;
    CodeInstance(const CodeInstance&) = delete;
    CodeInstance& operator=(const CodeInstance&) = delete;

protected:
    CodeInstance(MethodInstance& mi, CacheShard& owner) : mi_(&mi), owner_(&owner) {}

private:
    friend class CacheBase;
    friend class detail::WorldState;

    MethodInstance* mi_;
    CacheShard* owner_;
    std::uint64_t min_world_ = 0;
    std::atomic<std::uint64_t> max_world_{kMaxWorld};
    std::vector<MethodInstance*> dependencies_;
    std::chrono::nanoseconds compile_time_{};
};

/// A code instance holding a compiler's result of type R.
template <class R>
class TypedCodeInstance final : public CodeInstance {
public:
    TypedCodeInstance(MethodInstance& mi, CacheShard& owner, R result)
        : CodeInstance(mi, owner), result_(std::move(result)) {}
    const R& result() const { return result_; }

private:
    R result_;
};

} // namespace kcache
