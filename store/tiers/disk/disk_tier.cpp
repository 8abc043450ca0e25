#include "store/tiers/disk/disk_tier.hpp"

#include "core/log.hpp"
#include "store/file_descriptor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

namespace kcache::store {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr std::time_t kTouchInterval = 60;    // seconds between mtime refreshes of an entry
constexpr std::time_t kTmpMaxAge = 60 * 60;   // temporary files older than this are swept
constexpr std::uint64_t kRescanFraction = 16; // rescan after writing max_size / this

std::string errno_text(int err) {
    return std::strerror(err);
}

// Refuses a directory someone else could write into.
bool trusted(int fd, const std::string& what, std::string& why) {
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        why = "cannot stat " + what + ": " + errno_text(errno);
        return false;
    }
    if (st.st_uid != ::geteuid()) {
        why = what + " is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
              std::to_string(::geteuid()) + ")";
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        why = what + " is writable by group or others (mode " + mode + ")";
        return false;
    }
    return true;
}

// The subdirectory `name` of `parent`, created 0700 if missing, never through a symlink.
// The subdirectory `name` of `parent`, made 0700 if missing, never through a symlink; on failure
// the reason in `why` and the errno in `err`.
Fd subdir(int parent, const char* name, const std::string& what, std::string& why,
          int* err = nullptr) {
    Fd fd(::openat(parent, name, kDirFlags));
    if (!fd && errno == ENOENT) { // made on first use
        if (::mkdirat(parent, name, 0700) != 0 && errno != EEXIST) {
            if (err)
                *err = errno;
            why = "cannot create " + what + ": " + errno_text(errno);
            return Fd();
        }
        fd = Fd(::openat(parent, name, kDirFlags));
    }
    if (!fd) {
        if (err)
            *err = errno;
        why = "cannot open " + what + ": " + errno_text(errno) +
              (errno == ELOOP || errno == ENOTDIR ? " (a symlink or not a directory)" : "");
        return Fd();
    }
    if (!trusted(fd.get(), what, why))
        return Fd();
    return fd;
}

// mkdir -p with mode 0700 for what it creates.
void make_path(const std::filesystem::path& p) {
    std::filesystem::path prefix;
    for (const auto& part : p) {
        prefix /= part;
        ::mkdir(prefix.c_str(), 0700); // errors show when the root is opened
    }
}

bool hex_name(std::string_view s, std::size_t length) {
    return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

// Every directory entry name of `dir` (a descriptor that stays open).
std::vector<std::string> list(int dir) {
    std::vector<std::string> names;
    int copy = ::dup(dir);
    if (copy < 0)
        return names;
    DIR* d = ::fdopendir(copy);
    if (!d) {
        ::close(copy);
        return names;
    }
    ::rewinddir(d);
    while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..")
            names.emplace_back(n);
    }
    ::closedir(d);
    return names;
}

} // namespace

struct DiskTier::Dirs {
    Fd root, v1, cas, ac, tmp;
    int kind(bool action) const { return action ? ac.get() : cas.get(); }
};

namespace {

// The per-key lock file, removed by its holder when done. That is safe: the holder has published
// the entry by then (or failed to), so whoever takes the old file or makes a new one reads the
// entry again before compiling; at worst, after a failed compile, two processes compile it.
class FileLock final : public CompileLock {
public:
    FileLock(std::shared_ptr<const DiskTier::Dirs> dirs, std::string name, Fd fd)
        : dirs_(std::move(dirs)), name_(std::move(name)), fd_(std::move(fd)) {}
    ~FileLock() override {
        struct stat mine, named;
        if (::fstat(fd_.get(), &mine) == 0 &&
            ::fstatat(dirs_->tmp.get(), name_.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            mine.st_ino == named.st_ino && mine.st_dev == named.st_dev)
            ::unlinkat(dirs_->tmp.get(), name_.c_str(), 0); // only our own file
        ::flock(fd_.get(), LOCK_UN);
    }

private:
    std::shared_ptr<const DiskTier::Dirs> dirs_;
    std::string name_;
    Fd fd_;
};

} // namespace

namespace {

std::shared_ptr<const DiskTier::Dirs> open_dirs(const std::filesystem::path& root,
                                                std::string& why) {
    auto d = std::make_shared<DiskTier::Dirs>();
    // The root itself may be reached through symlinks (a user's choice); nothing below it is.
    constexpr int kRootFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    d->root = Fd(::open(root.c_str(), kRootFlags));
    if (!d->root && errno == ENOENT) {
        make_path(root);
        d->root = Fd(::open(root.c_str(), kRootFlags));
    }
    if (!d->root) {
        why = "cannot open the store directory " + root.string() + ": " + errno_text(errno);
        return nullptr;
    }
    const std::string r = root.string();
    if (!trusted(d->root.get(), "the store directory " + r, why))
        return nullptr;
    if (!(d->v1 = subdir(d->root.get(), "v1", r + "/v1", why)) ||
        !(d->cas = subdir(d->v1.get(), "cas", r + "/v1/cas", why)) ||
        !(d->ac = subdir(d->v1.get(), "ac", r + "/v1/ac", why)) ||
        !(d->tmp = subdir(d->v1.get(), "tmp", r + "/v1/tmp", why)))
        return nullptr;
    return d;
}

} // namespace

std::unique_ptr<DiskTier> DiskTier::open(DiskOptions options, std::string& why) {
    auto dirs = open_dirs(options.root, why);
    if (!dirs)
        return nullptr;
    return std::unique_ptr<DiskTier>(new DiskTier(std::move(options), std::move(dirs)));
}

DiskTier::DiskTier(DiskOptions options, std::shared_ptr<const Dirs> dirs)
    : options_(std::move(options)), dirs_(std::move(dirs)) {}

DiskTier::~DiskTier() = default;

std::shared_ptr<const DiskTier::Dirs> DiskTier::dirs() const {
    std::lock_guard lock(dirs_mutex_);
    return dirs_;
}

bool DiskTier::reopen() {
    std::string why;
    auto fresh = open_dirs(options_.root, why);
    if (!fresh) {
        fault("the store directory was removed and cannot be made again (" + why + ")", 0);
        return false;
    }
    {
        std::lock_guard lock(dirs_mutex_);
        dirs_ = std::move(fresh);
    }
    fault("the store directory was removed; made it again", 0);
    known_size_.store(-1, std::memory_order_relaxed);
    return true;
}

void DiskTier::fault(const std::string& what, int err) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    const std::string message = err ? what + ": " + errno_text(err) : what;
    std::lock_guard lock(warned_mutex_);
    // One warning per kind of fault (what failed, and why), not one per entry.
    if (warned_.insert(message).second)
        log().warn("kcache store {}: {}", options_.root.string(), message);
}

namespace {

// The bytes of the entry file `shard`/`hex` under `kind` (cas/ or ac/), read with the checks every
// read makes: a regular file of this user's, not reached through a symlink, under the size limit.
// nullopt when it is absent (`why` empty) or not acceptable (`why` says why). `touch` refreshes
// the mtime of an entry last used over a minute ago (a hit is a use).
std::optional<std::vector<std::uint8_t>> read_entry_file(int kind, const std::string& shard_name,
                                                         const std::string& hex, bool touch,
                                                         std::string& why) {
    Fd shard(::openat(kind, shard_name.c_str(), kDirFlags));
    if (!shard)
        return std::nullopt;
    Fd file(::openat(shard.get(), hex.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!file) {
        if (errno == ELOOP)
            why = "a symlink";
        return std::nullopt; // absent, or gone between listing and opening: a miss
    }
    struct stat st;
    if (::fstat(file.get(), &st) != 0)
        return std::nullopt;
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        static_cast<std::uint64_t>(st.st_size) > kMaxEntryBytes) {
        why = S_ISREG(st.st_mode) ? "not owned by this user or over the size limit"
                                  : "not a regular file";
        return std::nullopt;
    }
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
    bytes.resize(read_all(file.get(), bytes.data(), bytes.size()));
    if (touch && std::time(nullptr) - st.st_mtime >= kTouchInterval)
        ::futimens(file.get(), nullptr); // fails harmlessly when read-only
    return bytes;
}

} // namespace

std::optional<std::vector<std::uint8_t>> DiskTier::read(bool action, const Digest& key) {
    std::string why;
    const std::string hex = key.hex();
    auto bytes = read_entry_file(dirs()->kind(action), hex.substr(0, 2), hex, /*touch=*/true, why);
    if (!bytes && !why.empty())
        dropped(action, key, why);
    return bytes;
}

void DiskTier::dropped(bool action, const Digest& key, const std::string& why) {
    counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
    const auto d = dirs();
    const std::string hex = key.hex();
    Fd shard(::openat(d->kind(action), hex.substr(0, 2).c_str(), kDirFlags));
    if (shard)
        ::unlinkat(shard.get(), hex.c_str(), 0);
    log().warn("kcache store: dropped {} entry {}/{}: {}", action ? "action" : "content",
               action ? "ac" : "cas", hex, why);
}

bool DiskTier::write(bool action, const Digest& key, const std::vector<std::uint8_t>& bytes) {
    const std::string hex = key.hex();
    const std::string shard_name = hex.substr(0, 2);
    static std::atomic<std::uint64_t> counter{0};
    for (int attempt = 0; attempt < 2; ++attempt) {
        const auto d = dirs();
        std::string why;
        int err = 0;
        Fd shard = subdir(d->kind(action), shard_name.c_str(), shard_name, why, &err);
        if (!shard) {
            if (err == ENOENT && attempt == 0 && reopen())
                continue; // the store directory was deleted under us
            fault("cannot write entries (the compiled code is still used): " + why, 0);
            return false;
        }
        const std::string tmp = hex + "." + std::to_string(::getpid()) + "." +
                                std::to_string(counter.fetch_add(1)) + ".tmp";
        Fd file(::openat(d->tmp.get(), tmp.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!file) {
            err = errno;
            if (err == ENOENT && attempt == 0 && reopen())
                continue;
            fault("cannot write entries (the compiled code is still used)", err);
            return false;
        }
        err = write_all(file.get(), bytes.data(), bytes.size());
        if (!err && ::close(file.release()) != 0)
            err = errno;
        if (!err && ::renameat(d->tmp.get(), tmp.c_str(), shard.get(), hex.c_str()) != 0)
            err = errno;
        if (err) {
            ::unlinkat(d->tmp.get(), tmp.c_str(), 0);
            fault("cannot write entries (the compiled code is still used)", err);
            return false;
        }
        counters_.bytes_written.fetch_add(bytes.size(), std::memory_order_relaxed);
        after_write(bytes.size());
        return true;
    }
    return false;
}

template <class Value, class Decode>
Value DiskTier::load(bool action, const Digest& digest, Decode&& decode) {
    if (auto bytes = read(action, digest)) {
        auto decoded = decode(std::span<const std::uint8_t>(*bytes));
        if (decoded) {
            counters_.hits.fetch_add(1, std::memory_order_relaxed);
            counters_.bytes_read.fetch_add(bytes->size(), std::memory_order_relaxed);
            return std::move(decoded.value);
        }
        dropped(action, digest, decoded.error);
    }
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
}

ArtifactPtr DiskTier::get(const ContentKey& key) {
    return load<ArtifactPtr>(false, key.digest(), [&](std::span<const std::uint8_t> bytes) {
        return decode_content(bytes, key, seal_);
    });
}

ArtifactPtr DiskTier::put(const ContentKey& key, ArtifactPtr artifact) {
    if (artifact)
        write(false, key.digest(), encode_content(key, *artifact, seal_));
    return artifact;
}

ActionHit DiskTier::get(const ActionKey& key) {
    return {load<std::shared_ptr<const ActionEntry>>(true, key.digest(),
                                                     [&](std::span<const std::uint8_t> bytes) {
                                                         return decode_action(bytes, key, seal_);
                                                     }),
            nullptr};
}

void DiskTier::put(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr&) {
    if (entry)
        write(true, entry->key.digest(), encode_action(*entry, seal_));
}

std::unique_ptr<CompileLock> DiskTier::lock(const ContentKey& key) {
    const auto d = dirs();
    const std::string name = key.digest().hex() + ".lock";
    Fd fd(::openat(d->tmp.get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd)
        return nullptr; // e.g. a read-only store: nobody can publish, nothing to wait for
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            return nullptr;
        counters_.lock_waits.fetch_add(1, std::memory_order_relaxed);
        // flock has no timeout: poll, backing off from 1 ms to 25 ms, until the deadline.
        const auto deadline = std::chrono::steady_clock::now() + options_.lock_timeout;
        auto pause = std::chrono::milliseconds(1);
        for (;;) {
            if (std::chrono::steady_clock::now() >= deadline) {
                counters_.lock_timeouts.fetch_add(1, std::memory_order_relaxed);
                fault("another process compiling the same code held its lock past the " +
                          std::to_string(options_.lock_timeout.count()) +
                          " ms timeout; compiling here too",
                      0);
                return nullptr;
            }
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(25));
            if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0)
                break;
            if (errno != EWOULDBLOCK)
                return nullptr;
        }
    }
    ::futimens(fd.get(), nullptr); // in use: not an old temporary file to sweep
    return std::make_unique<FileLock>(d, name, std::move(fd));
}

namespace {

// v1/usage: the bytes of entries the last collection left, so that a process need not list the
// whole store before its first write to know where it stands. -1 when absent or unreadable.
std::int64_t read_usage(const DiskTier::Dirs& d) {
    Fd fd(::openat(d.v1.get(), "usage", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    char text[24] = {};
    const ssize_t n = fd ? ::read(fd.get(), text, sizeof text - 1) : -1;
    std::int64_t value = -1;
    if (n > 0) {
        auto [end, ec] = std::from_chars(text, text + n, value);
        if (ec != std::errc() || value < 0)
            value = -1;
    }
    return value;
}

void write_usage(const DiskTier::Dirs& d, std::uint64_t bytes) {
    const std::string tmp = "usage." + std::to_string(::getpid()) + ".tmp";
    Fd fd(::openat(d.tmp.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                   0600));
    const std::string text = std::to_string(bytes) + "\n";
    if (fd && ::write(fd.get(), text.data(), text.size()) == ssize_t(text.size()))
        ::renameat(d.tmp.get(), tmp.c_str(), d.v1.get(), "usage");
    else if (fd)
        ::unlinkat(d.tmp.get(), tmp.c_str(), 0);
}

} // namespace

void DiskTier::after_write(std::uint64_t bytes) {
    const std::uint64_t since = written_since_scan_.fetch_add(bytes) + bytes;
    std::int64_t known = known_size_.load(std::memory_order_relaxed);
    if (known < 0 && (known = read_usage(*dirs())) >= 0) {
        std::int64_t unknown = -1;
        known_size_.compare_exchange_strong(unknown, known, std::memory_order_relaxed);
    }
    // Other processes write too: rescan after writing a sixteenth of the cap, so that the store
    // overshoots by at most that much per process between scans.
    if (known < 0 || static_cast<std::uint64_t>(known) + since > options_.max_size ||
        since > options_.max_size / kRescanFraction)
        collect();
}

std::uint64_t DiskTier::collect() {
    const auto d = dirs();
    Fd gc(::openat(d->v1.get(), "gc.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!gc || ::flock(gc.get(), LOCK_EX | LOCK_NB) != 0) // someone else collects: enough
        return static_cast<std::uint64_t>(std::max<std::int64_t>(known_size_.load(), 0));
    written_since_scan_.store(0);

    std::vector<EntryFile> files = list_entries();
    std::uint64_t total = 0;
    for (const EntryFile& f : files)
        total += f.size;
    const std::time_t now = std::time(nullptr);
    for (const std::string& name : list(d->tmp.get())) {
        struct stat st;
        if (::fstatat(d->tmp.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - st.st_mtime > kTmpMaxAge)
            ::unlinkat(d->tmp.get(), name.c_str(), 0);
    }

    if (total > options_.max_size) {
        // Least recently used first; at equal age an action entry before content.
        std::sort(files.begin(), files.end(), [](const EntryFile& a, const EntryFile& b) {
            if (a.mtime.tv_sec != b.mtime.tv_sec)
                return a.mtime.tv_sec < b.mtime.tv_sec;
            if (a.mtime.tv_nsec != b.mtime.tv_nsec)
                return a.mtime.tv_nsec < b.mtime.tv_nsec;
            return a.action > b.action;
        });
        const std::uint64_t target = options_.max_size / 10 * 9;
        std::size_t victims = 0;
        for (std::uint64_t left = total; victims < files.size() && left > target; ++victims)
            left -= files[victims].size;
        // Action entries first, so that no reader finds an action whose content this removed.
        std::stable_partition(files.begin(), files.begin() + victims,
                              [](const EntryFile& f) { return f.action; });
        for (std::size_t i = 0; i < victims; ++i) {
            const EntryFile& f = files[i];
            if (remove(f)) {
                counters_.evictions.fetch_add(1, std::memory_order_relaxed);
                total -= f.size;
            } else if (errno == ENOENT) {
                total -= f.size; // another process took it first
            }
        }
    }
    known_size_.store(static_cast<std::int64_t>(total), std::memory_order_relaxed);
    write_usage(*d, total);
    return total;
}

std::vector<DiskTier::EntryFile> DiskTier::list_entries() const {
    const auto d = dirs();
    std::vector<EntryFile> files;
    for (bool action : {true, false}) {
        for (const std::string& shard : list(d->kind(action))) {
            if (!hex_name(shard, 2))
                continue;
            Fd dir(::openat(d->kind(action), shard.c_str(), kDirFlags));
            if (!dir)
                continue;
            for (const std::string& name : list(dir.get())) {
                struct stat st;
                if (!hex_name(name, 64) ||
                    ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISREG(st.st_mode))
                    continue;
                files.push_back(
                    {action, shard, name, static_cast<std::uint64_t>(st.st_size), st.st_mtim});
            }
        }
    }
    return files;
}

Decoded<AnyEntry> DiskTier::inspect(const EntryFile& file) const {
    Decoded<AnyEntry> out;
    std::string why;
    auto bytes =
        read_entry_file(dirs()->kind(file.action), file.shard, file.hex, /*touch=*/false, why);
    if (!bytes) {
        out.error = why.empty() ? "gone" : why;
        return out;
    }
    out = decode_any(*bytes, seal_);
    if (!out)
        return out;
    // What a get checks besides the seal: the entry is the key its name says, of its kind.
    const bool is_action = out.value.action != nullptr;
    const std::string key =
        is_action ? out.value.action->key.digest().hex() : out.value.content_key->digest().hex();
    if (is_action != file.action || key != file.hex || !key.starts_with(file.shard)) {
        out.error = std::string("a ") + (is_action ? "action" : "content") + " entry at " +
                    (file.action ? "ac/" : "cas/") + file.shard + "/" + file.hex + " is the key " +
                    key;
        out.value = AnyEntry{};
    }
    return out;
}

bool DiskTier::remove(const EntryFile& file) {
    Fd dir(::openat(dirs()->kind(file.action), file.shard.c_str(), kDirFlags));
    return dir && ::unlinkat(dir.get(), file.hex.c_str(), 0) == 0;
}

TierStats DiskTier::stats() const {
    return counters_.snapshot();
}

} // namespace kcache::store
