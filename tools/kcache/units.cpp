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
