// kcache's logger. The level comes from KCACHE_LOG (trace, debug, info, warn, error, critical,
// off); the default is warn. Nothing on a hot path logs.
#pragma once

#include <spdlog/logger.h>

namespace kcache {

/// The process-wide kcache logger, created on first use. Thread-safe.
spdlog::logger& log();

} // namespace kcache
