#include "core/log.hpp"

#include <cstdlib>
#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace kcache {

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
    auto logger = std::make_shared<spdlog::logger>(
        "kcache", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("[%H:%M:%S.%e] [kcache] [%^%l%$] %v");
    spdlog::level::level_enum level = spdlog::level::warn;
    if (const char* env = std::getenv("KCACHE_LOG"); env && *env) {
        auto parsed = spdlog::level::from_str(env);
        // from_str maps anything unknown to off; only accept "off" when it was asked for.
        if (parsed != spdlog::level::off || std::string_view(env) == "off")
            level = parsed;
    }
    logger->set_level(level);
    return logger;
}

} // namespace

spdlog::logger& log() {
    static const std::shared_ptr<spdlog::logger> logger = make_logger();
    return *logger;
}

} // namespace kcache
