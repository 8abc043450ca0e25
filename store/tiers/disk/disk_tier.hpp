// The disk tier: one directory that processes share, one file per entry.
//
//   <root>/v1/cas/<2 hex>/<64 hex>   content entries (compiled code)
//   <root>/v1/ac/<2 hex>/<64 hex>    action entries
//   <root>/v1/tmp/                   entries being written; per-key compile locks (<hex>.lock)
//   <root>/v1/gc.lock                held by the process collecting
//   <root>/v1/usage                  bytes of entries the last collection left
//   <root>/v1/stats                  counters of every process
//   (store/tiers/disk/persistent_stats.hpp)
//
// Writes go to tmp/ and are published by one rename, so a reader sees a whole entry or none.
// Every read checks the seal and that the entry is the key asked for (store/entry.hpp); a bad
// entry is counted, deleted and a miss. A hit refreshes the file's mtime (at most once a minute),
// which is what least-recently-used means here. A process knows the store's size from `usage`
// plus what it wrote itself, and lists the store again after writing a sixteenth of the cap (so
// the cap is passed by at most that much per process). When the files pass the cap, the process
// that notices takes gc.lock (never waiting: another collector is enough) and deletes the least
// recently used entries down to 90 % of the cap, action entries before the content they name;
// temporary files older than an hour go too. A process that finds an entry gone between listing
// and opening takes it as a miss.
//
// Security: host artifacts are native code that kcache runs, so whoever can write the store can
// run code as its user. Directories are created 0700 and files 0600; a root (or v1/ and below)
// owned by another user or writable by group or others is refused (the tier is not opened);
// nothing inside the root is opened through a symlink (every path is one component, opened with
// O_NOFOLLOW relative to a directory descriptor), and only regular files owned by this user are
// read.
//
// Faults are warnings, never failures: a read-only directory serves reads; a full disk loses
// the write (the compiled code is still returned); a deleted directory is recreated on the next
// write. Each kind of fault is logged once per process and counted in stats().errors.
//
// Several processes: a compilation takes the per-key lock (flock on tmp/<hex>.lock) before it
// compiles and re-reads the entry once it holds it, so concurrent processes compile each key
// once. A waiter gives up after the lock timeout and compiles itself; a holder that dies
// releases the lock with its process.
#pragma once

#include "store/tier.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace kcache::store {

struct DiskOptions {
    std::filesystem::path root;
    /// Cap on the bytes of entry files (KCACHE_CACHE_MAX_SIZE).
    std::uint64_t max_size = std::uint64_t(4) << 30;
    /// How long a compilation waits for another process compiling the same key.
    std::chrono::milliseconds lock_timeout{30'000};
};

/// Thread-safety: thread-safe; any number of threads and processes may use one directory.
class DiskTier final : public Tier {
public:
    /// Opens the store at options.root, creating what is missing. nullptr, with the reason in
    /// `why`, when the directory is refused (owner, permissions) or cannot be created.
    static std::unique_ptr<DiskTier> open(DiskOptions options, std::string& why);
    ~DiskTier() override;

    std::string_view name() const override { return "disk"; }
    ArtifactPtr get(const ContentKey& key) override;
    ArtifactPtr put(const ContentKey& key, ArtifactPtr artifact) override;
    ActionHit get(const ActionKey& key) override;
    void put(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr& content) override;
    std::unique_ptr<CompileLock> lock(const ContentKey& key) override;
    TierStats stats() const override;

    const DiskOptions& options() const { return options_; }
    /// Scans the directory, sweeps old temporary files and, when over the cap, evicts (unless
    /// another process is collecting). Returns the bytes of entries left. Runs by itself after
    /// writes; public for tools and tests.
    std::uint64_t collect();

    /// One entry file, as listed (for collect() and for tools: kcache cache ls, verify, prune).
    struct EntryFile {
        bool action = false; ///< under ac/ (else cas/)
        std::string shard;   ///< its directory: the name's first two hex digits
        std::string hex;     ///< its name: the digest of its key, 64 hex digits
        std::uint64_t size = 0;
        std::timespec mtime{}; ///< its last use (a hit refreshes it, at most once a minute)
    };
    /// Every entry file, unread; names that cannot be entries are skipped.
    std::vector<EntryFile> list_entries() const;
    /// What `file` holds, checked as a get checks it (a regular file of this user's under the
    /// size limit, the seal, the key fields hashing to its name, the kind of its directory);
    /// otherwise the reason. Counts nothing, deletes nothing, and does not refresh the mtime.
    Decoded<AnyEntry> inspect(const EntryFile& file) const;
    /// Deletes the entry file; false (errno set) when it could not (ENOENT: already gone).
    bool remove(const EntryFile& file);

    struct Dirs;

private:
    DiskTier(DiskOptions options, std::shared_ptr<const Dirs> dirs);

    std::shared_ptr<const Dirs> dirs() const;
    /// After ENOENT on a write: the directory was deleted; make it again.
    bool reopen();
    std::optional<std::vector<std::uint8_t>> read(bool action, const Digest& key);
    /// read, decode, count; a bad entry is dropped.
    template <class Value, class Decode>
    Value load(bool action, const Digest& digest, Decode&& decode);
    bool write(bool action, const Digest& key, const std::vector<std::uint8_t>& bytes);
    void dropped(bool action, const Digest& key, const std::string& why);
    void after_write(std::uint64_t bytes);
    void fault(const std::string& what, int err);

    DiskOptions options_;
    Seal seal_ = Seal::checksum();
    mutable std::mutex dirs_mutex_;
    std::shared_ptr<const Dirs> dirs_;

    std::atomic<std::int64_t> known_size_{-1}; // bytes of entries at the last scan, plus writes
    std::atomic<std::uint64_t> written_since_scan_{0};

    std::mutex warned_mutex_;
    std::set<std::string> warned_;

    TierCounters counters_;
};

} // namespace kcache::store
