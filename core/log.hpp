// kcache's logger. The level comes from KCACHE_LOG (trace, debug, info, warn, error, critical,
// off); the default is warn, and any other value is reported once and ignored. Nothing on a hot
// path logs.
#pragma once

#include <spdlog/logger.h>

#include <optional>
#include <string_view>

namespace kcache {

/// The process-wide kcache logger, created on first use. Thread-safe.
spdlog::logger& log();

/// The level a KCACHE_LOG value names ("trace" .. "critical", "off", and spdlog's aliases
/// "warning", "err"); nothing for any other text.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view value);

} // namespace kcache
