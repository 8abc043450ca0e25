// The store's configuration, from the environment (documented in README.md, "The store"):
//
//   KCACHE_CACHE_DIR            the disk tier's directory; else $XDG_CACHE_HOME/kcache, else
//                               ~/.cache/kcache
//   KCACHE_CACHE=off            no disk tier (the memory tier stays)
//   KCACHE_CACHE_MAX_SIZE       the disk tier's size cap: bytes, or a number with K, M or G
//                               (powers of 1024); default 4G
//   KCACHE_CACHE_LOCK_TIMEOUT   seconds a compilation waits for another process compiling the
//                               same code before compiling it too; default 30
//
// Thread-safety: plain values and free functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::store {

struct StoreConfig {
    bool disk = true;
    std::filesystem::path dir;
    std::uint64_t max_size = std::uint64_t(4) << 30;
    std::chrono::milliseconds lock_timeout{30'000};
    /// The memory tier's budget for artifacts held (not configurable from the environment).
    std::uint64_t memory_max_size = std::uint64_t(512) << 20;
    /// Problems with the environment; each was replaced by its default.
    std::vector<std::string> warnings;

    /// Reads the variables above (and XDG_CACHE_HOME, HOME).
    static StoreConfig from_environment();
};

/// "4G", "512M", "64K", "1000": bytes (K, M, G are powers of 1024, either case); nullopt for
/// anything else, zero included.
std::optional<std::uint64_t> parse_size(std::string_view text);

} // namespace kcache::store
