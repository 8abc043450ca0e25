// KCACHE_LOG: the levels it names, and everything else ignored rather than turning logging off.
#include "core/log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace kcache {
namespace {

TEST(LogLevel, NamesTheLevelsAndNothingElse) {
    EXPECT_EQ(parse_log_level("trace"), spdlog::level::trace);
    EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
    EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
    for (const std::string& bad : {std::string("verbose"), std::string("OFF "), std::string(""),
                                   std::string(100000, 'x'), std::string("of\0f", 4)})
        EXPECT_EQ(parse_log_level(bad), std::nullopt) << bad.size();
}

} // namespace
} // namespace kcache
