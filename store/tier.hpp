// A tier of the store: one place entries live (process memory, a local directory, a shared
// Redis server), behind one small interface so that the Store (store/store.hpp) can stack them,
// fastest first, and a new tier is one file pair plus a line in make_tiers (store/store.cpp).
//
// A tier answers get/put for content entries (compiled code, by ContentKey) and action entries
// (by ActionKey). It returns an entry only if it is exactly the one asked for: a tier holding
// bytes decodes them with store/entry.hpp, which checks the seal and every key field. Tiers
// never throw: a tier that fails counts it, logs a warning, and answers "not here".
#pragma once

#include "store/entry.hpp"
#include "store/keys.hpp"

#include <atomic>
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
    std::uint64_t lock_timeouts = 0; ///< of those, waits that gave up at the lock timeout
    std::uint64_t errors = 0;        ///< I/O failures (each a warning, never a failure)
    // Remote tiers:
    std::uint64_t rejected = 0; ///< values whose MAC did not verify (or that had none)
    std::uint64_t dropped = 0;  ///< uploads dropped: the queue was full or the server backing off
    std::uint64_t backoffs = 0; ///< operations skipped because their server was backing off
    std::uint64_t connects = 0; ///< connections attempted, made or not
    std::uint64_t connect_timeouts = 0; ///< connects that the connect timeout ended (errors)
    std::uint64_t timeouts = 0;         ///< operations that the operation timeout ended (errors)
};

/// TierStats as counters that a tier's threads bump concurrently (relaxed: statistics, not
/// synchronisation).
struct TierCounters {
    std::atomic<std::uint64_t> hits{0}, misses{0}, bytes_read{0}, bytes_written{0}, corrupt{0},
        evictions{0}, lock_waits{0}, lock_timeouts{0}, errors{0}, rejected{0}, dropped{0},
        backoffs{0}, connects{0}, connect_timeouts{0}, timeouts{0};

    TierStats snapshot() const {
        constexpr auto relaxed = std::memory_order_relaxed;
        return {.hits = hits.load(relaxed),
                .misses = misses.load(relaxed),
                .bytes_read = bytes_read.load(relaxed),
                .bytes_written = bytes_written.load(relaxed),
                .corrupt = corrupt.load(relaxed),
                .evictions = evictions.load(relaxed),
                .lock_waits = lock_waits.load(relaxed),
                .lock_timeouts = lock_timeouts.load(relaxed),
                .errors = errors.load(relaxed),
                .rejected = rejected.load(relaxed),
                .dropped = dropped.load(relaxed),
                .backoffs = backoffs.load(relaxed),
                .connects = connects.load(relaxed),
                .connect_timeouts = connect_timeouts.load(relaxed),
                .timeouts = timeouts.load(relaxed)};
    }
};

/// An action entry, and the content it names when the tier keeps the two together (so that a
/// recall is one lookup); otherwise `content` is null and the caller looks it up by
/// entry->content_key().
struct ActionHit {
    std::shared_ptr<const ActionEntry> entry;
    ArtifactPtr content;
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

    /// The action entry stored under exactly `key` (entry null when there is none), and its
    /// content when this tier has it at hand.
    virtual ActionHit get(const ActionKey& key) = 0;
    /// Stores `entry`; `content` is the artifact it names (a tier may keep them together).
    virtual void put(const std::shared_ptr<const ActionEntry>& entry,
                     const ArtifactPtr& content) = 0;

    /// A lock other processes sharing this tier respect for compiling `key`, taken within the
    /// tier's timeout; nullptr when the tier has none, cannot take it, or timed out (the caller
    /// then compiles anyway: a duplicate compile is only wasted time).
    virtual std::unique_ptr<CompileLock> lock(const ContentKey&) { return nullptr; }

    virtual TierStats stats() const = 0;
};

} // namespace kcache::store
