// The store's configuration, from the environment (documented in README.md, "The store"):
//
//   KCACHE_CACHE_DIR            the disk tier's directory; else $XDG_CACHE_HOME/kcache, else
//                               ~/.cache/kcache
//   KCACHE_CACHE=off            no disk tier (the memory tier stays)
//   KCACHE_CACHE_MAX_SIZE       the disk tier's size cap: bytes, or a number with K, M or G
//                               (powers of 1024); default 4G
//   KCACHE_CACHE_LOCK_TIMEOUT   how long a compilation waits for another process (on this
//                               machine or, through Redis, on another) compiling the same code
//                               before compiling it too; default 30 s
//
// The shared Redis tier (store/tiers/redis/redis_tier.hpp), on when KCACHE_REDIS names servers:
//
//   KCACHE_REDIS                   redis://[[user]:password@]host[:port][/db], several separated
//                                  by commas (the keys are shared among them by rendezvous
//                                  hashing; Redis Cluster redirections are not followed)
//   KCACHE_REDIS_TTL               how long an entry lives after its last use; default 30d
//   KCACHE_REDIS_CONNECT_TIMEOUT   default 100ms
//   KCACHE_REDIS_TIMEOUT           each operation's time limit; default 1s
//   KCACHE_REDIS_BACKOFF           how long a failing server is skipped; doubles while it keeps
//                                  failing, up to a minute; default 1s
//   KCACHE_REDIS_SECRET            values carry a BLAKE3 MAC keyed by this secret, and values
//   KCACHE_REDIS_SECRET_FILE       without a valid one are rejected (or the secret read from a
//                                  file that others cannot read and only its owner can write)
//
// Durations are a number of seconds or a number with ms, s, m, h or d. A bad value of a tuning
// variable is a warning and its default; a bad KCACHE_REDIS or secret is a warning and no Redis
// tier (never a Redis tier without the protection asked for).
//
// Thread-safety: plain values and free functions.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::store {

/// One Redis server, as a redis:// URL names it.
struct RedisAddress {
    std::string host;
    int port = 6379;
    int db = 0;
    std::string user;     ///< AUTH user (Redis 6 ACLs); empty: the default user
    std::string password; ///< AUTH password; empty: no AUTH
    /// redis://host:port/db, without credentials: for messages, logs and rendezvous hashing.
    std::string str() const;
    friend bool operator==(const RedisAddress&, const RedisAddress&) = default;
};

/// The Redis tier's settings (store/tiers/redis/redis_tier.hpp).
struct RedisOptions {
    std::vector<RedisAddress> servers;
    std::chrono::milliseconds connect_timeout{100};
    std::chrono::milliseconds timeout{1000};
    /// A failing server is skipped this long, twice as long after each further failure (up to a
    /// minute, or this if longer); the first success resets it.
    std::chrono::milliseconds backoff{1000};
    std::chrono::seconds ttl{std::chrono::hours(24 * 30)};
    /// How long a compilation waits for another machine compiling the same code, and how long
    /// the Redis lock of a holder that died lives on.
    std::chrono::milliseconds lock_timeout{30'000};
    /// The MAC key values are sealed with; none: a checksum, like the disk tier.
    std::optional<std::array<std::uint8_t, 32>> mac_key;
    /// Uploads waiting for the background writer, in bytes of artifacts; past it they are
    /// dropped and counted.
    std::uint64_t queue_bytes = std::uint64_t(64) << 20;
    /// Values over this are neither uploaded nor read (a reply announcing more is an error).
    std::uint64_t max_value_bytes = std::uint64_t(64) << 20;
};

struct StoreConfig {
    bool disk = true;
    std::filesystem::path dir;
    std::uint64_t max_size = std::uint64_t(4) << 30;
    std::chrono::milliseconds lock_timeout{30'000};
    /// The memory tier's budget for artifacts held (not configurable from the environment).
    std::uint64_t memory_max_size = std::uint64_t(512) << 20;
    /// The Redis tier, when KCACHE_REDIS asks for one and everything it needs is valid.
    std::optional<RedisOptions> redis;
    /// Problems with the environment; each was replaced by its default (or turned a tier off).
    std::vector<std::string> warnings;

    /// Reads the variables above (and XDG_CACHE_HOME, HOME).
    static StoreConfig from_environment();
};

/// "4G", "512M", "64K", "1000": bytes (K, M, G are powers of 1024, either case); nullopt for
/// anything else, zero included.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// "1.5", "250ms", "2s", "10m", "12h", "30d" (a number alone is seconds); nullopt for anything
/// else, negative and absurd (over ten years) values included.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// KCACHE_REDIS's value: one or more redis:// URLs separated by commas. nullopt, with what is
/// wrong and where in `error`, when any of them is invalid.
std::optional<std::vector<RedisAddress>> parse_redis_urls(std::string_view text,
                                                          std::string& error);

/// The MAC key for `secret` (KCACHE_REDIS_SECRET), or, when `secret` is empty, the one in
/// `secret_file` (KCACHE_REDIS_SECRET_FILE, one trailing newline ignored). nullopt with the
/// reason in `error` when the secret is empty, both or neither are given, or the file cannot be
/// read, is not a regular file, is readable by others, writable by group or others, or owned by
/// another user than this one or root.
std::optional<std::array<std::uint8_t, 32>> redis_mac_key(std::string_view secret,
                                                          const std::filesystem::path& secret_file,
                                                          std::string& error);

} // namespace kcache::store
