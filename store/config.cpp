#include "store/config.hpp"

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <limits>

namespace kcache::store {
namespace {

std::string_view env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string_view(v) : std::string_view();
}

std::filesystem::path home() {
    if (auto h = env("HOME"); !h.empty())
        return std::filesystem::path(h);
    if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_dir)
        return std::filesystem::path(pw->pw_dir);
    return {};
}

} // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t unit = 1;
    if (!text.empty()) {
        switch (text.back()) {
        case 'k':
        case 'K':
            unit = std::uint64_t(1) << 10;
            break;
        case 'm':
        case 'M':
            unit = std::uint64_t(1) << 20;
            break;
        case 'g':
        case 'G':
            unit = std::uint64_t(1) << 30;
            break;
        default:
            break;
        }
        if (unit != 1)
            text.remove_suffix(1);
    }
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0 ||
        n > std::numeric_limits<std::uint64_t>::max() / unit)
        return std::nullopt;
    return n * unit;
}

StoreConfig StoreConfig::from_environment() {
    StoreConfig c;
    if (auto v = env("KCACHE_CACHE"); !v.empty() && v != "on") {
        if (v == "off")
            c.disk = false;
        else
            c.warnings.push_back("KCACHE_CACHE='" + std::string(v) +
                                 "' is neither on nor off; the disk tier stays on");
    }
    if (auto dir = env("KCACHE_CACHE_DIR"); !dir.empty()) {
        c.dir = std::filesystem::path(dir);
    } else if (auto xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg.front() == '/') {
        c.dir = std::filesystem::path(xdg) / "kcache";
    } else if (auto h = home(); !h.empty()) {
        c.dir = h / ".cache" / "kcache";
    } else if (c.disk) {
        c.disk = false;
        c.warnings.push_back("no KCACHE_CACHE_DIR, XDG_CACHE_HOME or home directory: the disk "
                             "tier is off");
    }
    if (auto v = env("KCACHE_CACHE_MAX_SIZE"); !v.empty()) {
        if (auto size = parse_size(v))
            c.max_size = *size;
        else
            c.warnings.push_back("KCACHE_CACHE_MAX_SIZE='" + std::string(v) +
                                 "' is not a size like 4G, 512M or 1000000; using 4G");
    }
    if (auto v = env("KCACHE_CACHE_LOCK_TIMEOUT"); !v.empty()) {
        double seconds = -1;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
        if (ec == std::errc() && end == v.data() + v.size() && seconds >= 0 && seconds < 1e6)
            c.lock_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
        else
            c.warnings.push_back("KCACHE_CACHE_LOCK_TIMEOUT='" + std::string(v) +
                                 "' is not a number of seconds; using 30");
    }
    return c;
}

} // namespace kcache::store
