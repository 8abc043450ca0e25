// Sizes and ages as people write and read them: `500M`, `2G`; `7d`, `12h` (ages are read by
// store::parse_duration).
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kcache::cli {

/// "500M", "2G", "64K", "1000": bytes (K, M, G, T are powers of 1024, either case); nullopt for
/// anything else.
std::optional<std::uint64_t> parse_size_text(std::string_view text);

/// "512 B", "3.4 KiB", "1.2 GiB".
std::string format_size(std::uint64_t bytes);

/// "40s", "12m", "5h", "3d": the largest whole unit.
std::string format_age(std::chrono::seconds age);

} // namespace kcache::cli
