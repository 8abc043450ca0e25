#include "units.hpp"

#include "store/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace kcache::cli {

std::optional<std::uint64_t> parse_size_text(std::string_view text) {
    if (!text.empty() && (text.back() == 'T' || text.back() == 't')) {
        auto gib = store::parse_size(std::string(text.substr(0, text.size() - 1)) + "G");
        if (!gib || *gib > (UINT64_MAX >> 10))
            return std::nullopt;
        return *gib << 10;
    }
    return store::parse_size(text);
}

std::optional<std::chrono::seconds> parse_age(std::string_view text) {
    struct Unit {
        char suffix;
        std::int64_t seconds;
    };
    static constexpr Unit kUnits[] = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    std::int64_t unit = 1;
    if (!text.empty())
        for (const Unit& u : kUnits)
            if (text.back() == u.suffix) {
                unit = u.seconds;
                text.remove_suffix(1);
                break;
            }
    std::int64_t n = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    constexpr std::int64_t kHundredYears = 100LL * 365 * 86400;
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < 0 ||
        n > kHundredYears / unit)
        return std::nullopt;
    return std::chrono::seconds(n * unit);
}

std::string format_size(std::uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char text[32];
    if (u == 0)
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.1f %s", v, kUnits[u]);
    return text;
}

std::string format_age(std::chrono::seconds age) {
    const std::int64_t s = std::max<std::int64_t>(age.count(), 0);
    if (s < 120)
        return std::to_string(s) + "s";
    if (s < 2 * 3600)
        return std::to_string(s / 60) + "m";
    if (s < 2 * 86400)
        return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
}

} // namespace kcache::cli
