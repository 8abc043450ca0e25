#include "core/log.hpp"

#include "core/excerpt.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace kcache {

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = std::make_shared<spdlog::logger>(
        "kcache", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("[%H:%M:%S.%e] [kcache] [%^%l%$] %v");
    logger->set_level(spdlog::level::warn);
    if (const char* env = std::getenv("KCACHE_LOG"); env && *env) {
        if (auto level = parse_log_level(env))
            logger->set_level(*level);
        else
            logger->warn("KCACHE_LOG='{}' is not a level (trace, debug, info, warn, error, "
                         "critical, off); logging at warn",
                         excerpt(env));
    }
    return logger;
}

} // namespace

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view value) {
    // from_str maps anything it does not know to off: accept off only when it was asked for.
    const auto level = spdlog::level::from_str(std::string(value));
    if (level == spdlog::level::off && value != "off")
        return std::nullopt;
    return level;
}

spdlog::logger& log() {
    static const std::shared_ptr<spdlog::logger> logger = make_logger();
    return *logger;
}

} // namespace kcache
