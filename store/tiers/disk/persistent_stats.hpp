// Store statistics that outlive the process, kept beside the disk tier's entries as ccache
// keeps its counters: each process adds what its store counted since it last flushed to
// <root>/v1/stats under an flock of <root>/v1/stats.lock, so that `kcache cache stats` shows the
// totals of every process that used the directory (hits and misses per tier, compilations,
// corrupt entries, evictions, bytes).
//
// The file is text, one counter per line, `<name> <value>`: `store.<counter>` for the store's
// own counters and `<tier>.<counter>` per tier. It is read as untrusted input: bounded in size,
// and a line that is not a counter is skipped (the totals restart from what is readable).
//
// Thread-safety: the free functions are thread-safe and process-safe (the lock). A
// StatsRecorder is owned by one thread.
#pragma once

#include "store/store.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace kcache::store {

/// `after - before`, counter by counter; tiers matched by name (a tier only in `after` counts
/// from zero).
StoreStats stats_difference(const StoreStats& after, const StoreStats& before);

/// Adds `delta` to the totals kept under the store directory `root` (made by the disk tier).
/// false, with the reason in `why`, when they cannot be read or written.
bool add_persistent_stats(const std::filesystem::path& root, const StoreStats& delta,
                          std::string& why);

/// The totals kept under `root`: zeros when none were kept yet; nullopt, with the reason in
/// `why`, when they cannot be read. `why` also notes lines that were skipped.
std::optional<StoreStats> read_persistent_stats(const std::filesystem::path& root,
                                                std::string& why);

/// Sets the totals under `root` to zero. false, with the reason in `why`, when it cannot.
bool clear_persistent_stats(const std::filesystem::path& root, std::string& why);

/// Adds what `store` counts from its construction on to the totals in the store's disk tier's
/// directory, at each flush() and on destruction; nothing when the store has no disk tier.
/// A failure to write them is a warning (statistics never fail a command).
class StatsRecorder {
public:
    explicit StatsRecorder(const Store& store);
    ~StatsRecorder();
    StatsRecorder(const StatsRecorder&) = delete;
    StatsRecorder& operator=(const StatsRecorder&) = delete;

    void flush();

private:
    const Store& store_;
    std::optional<std::filesystem::path> root_;
    StoreStats flushed_;
};

} // namespace kcache::store
