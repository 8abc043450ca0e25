// A tier of the store: one place entries live (process memory, a local directory, later a
// remote cache), behind one small interface so that the Store (store/store.hpp) can stack them,
// fastest first, and a new tier is one file pair plus a line in make_tiers (store/store.cpp).
//
// A tier answers get/put for content entries (compiled code, by ContentKey) and action entries
// (by ActionKey). It returns an entry only if it is exactly the one asked for: a tier holding
// bytes decodes them with store/entry.hpp, which checks the seal and every key field. Tiers
// never throw: a tier that fails counts it, logs a warning, and answers "not here".
#pragma once

#include "store/entry.hpp"
#include "store/keys.hpp"

#include <cstdint>
#include <memory>
#include <string_view>

namespace kcache::store {

struct TierStats {
    std::uint64_t hits = 0;          ///< gets that returned an entry
    std::uint64_t misses = 0;        ///< gets that returned none (corrupt ones included)
    std::uint64_t bytes_read = 0;    ///< entry bytes served
    std::uint64_t bytes_written = 0; ///< entry bytes stored
    std::uint64_t corrupt = 0;       ///< entries found bad (seal, key, format) and dropped
    std::uint64_t evictions = 0;     ///< entries removed to stay under the size cap
    std::uint64_t lock_waits = 0;    ///< compile locks that were held by someone else
    std::uint64_t errors = 0;        ///< I/O failures (each a warning, never a failure)
};

/// Held while a compilation runs, so that other processes sharing the tier wait for its result
/// instead of compiling the same code; released on destruction (or when the process dies).
/// Thread-safety: owned by one compilation.
class CompileLock {
public:
    virtual ~CompileLock() = default;
};

/// Thread-safety: implementations are thread-safe.
class Tier {
public:
    virtual ~Tier() = default;
    /// "memory", "disk", ...
    virtual std::string_view name() const = 0;

    /// The artifact stored under exactly `key`, or nullptr.
    virtual ArtifactPtr get(const ContentKey& key) = 0;
    /// Stores `artifact` under `key`. Returns the artifact this tier now serves for `key`: the
    /// one it already held if any (so that identical code stays one object), else `artifact`.
    virtual ArtifactPtr put(const ContentKey& key, ArtifactPtr artifact) = 0;

    /// The action entry stored under exactly `key`, or nullptr.
    virtual std::shared_ptr<const ActionEntry> get(const ActionKey& key) = 0;
    virtual void put(const std::shared_ptr<const ActionEntry>& entry) = 0;

    /// A lock other processes sharing this tier respect for compiling `key`, taken within the
    /// tier's timeout; nullptr when the tier has none, cannot take it, or timed out (the caller
    /// then compiles anyway: a duplicate compile is only wasted time).
    virtual std::unique_ptr<CompileLock> lock(const ContentKey&) { return nullptr; }

    virtual TierStats stats() const = 0;
};

} // namespace kcache::store
