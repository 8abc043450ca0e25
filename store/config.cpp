#include "store/config.hpp"

#include "store/entry.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
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

namespace {

// A duration variable in [min, max], else a warning and `fallback`.
template <class Duration>
void read_duration(StoreConfig& c, const char* name, Duration& out, Duration min, Duration max,
                   const char* fallback) {
    auto v = env(name);
    if (v.empty())
        return;
    auto d = parse_duration(v);
    if (d && *d >= min && *d <= max) {
        out = std::chrono::duration_cast<Duration>(*d);
        return;
    }
    c.warnings.push_back(std::string(name) + "='" + std::string(v) +
                         "' is not a duration like 500ms, 2s or 30d in its range; using " +
                         fallback);
}

void read_redis(StoreConfig& c) {
    const auto urls = env("KCACHE_REDIS");
    if (urls.empty())
        return;
    std::string error;
    auto servers = parse_redis_urls(urls, error);
    if (!servers) {
        c.warnings.push_back("KCACHE_REDIS: " + error + "; the Redis tier is off");
        return;
    }
    RedisOptions r;
    r.servers = std::move(*servers);
    r.lock_timeout = c.lock_timeout;
    using std::chrono::milliseconds;
    read_duration(c, "KCACHE_REDIS_CONNECT_TIMEOUT", r.connect_timeout, milliseconds(1),
                  milliseconds(60'000), "100ms");
    read_duration(c, "KCACHE_REDIS_TIMEOUT", r.timeout, milliseconds(1), milliseconds(600'000),
                  "1s");
    read_duration(c, "KCACHE_REDIS_BACKOFF", r.backoff, milliseconds(0), milliseconds(3'600'000),
                  "1s");
    read_duration(c, "KCACHE_REDIS_TTL", r.ttl, std::chrono::seconds(1),
                  std::chrono::seconds(std::chrono::hours(24 * 3650)), "30d");
    // Asked for protection: no Redis tier at all rather than one without it.
    const char* secret = std::getenv("KCACHE_REDIS_SECRET");
    const char* secret_file = std::getenv("KCACHE_REDIS_SECRET_FILE");
    if (secret || secret_file) {
        std::string why;
        if (secret && secret_file)
            why = "both KCACHE_REDIS_SECRET and KCACHE_REDIS_SECRET_FILE are set; set one";
        else if (secret_file && !*secret_file)
            why = "KCACHE_REDIS_SECRET_FILE is empty";
        else
            r.mac_key = redis_mac_key(secret ? secret : "",
                                      std::filesystem::path(secret_file ? secret_file : ""), why);
        if (!r.mac_key) {
            c.warnings.push_back(why + "; the Redis tier is off");
            return;
        }
    }
    c.redis = std::move(r);
}

int hex_value(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

// %XX escapes, as in a URL's user information.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size())
            return std::nullopt;
        const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

template <class Int>
bool parse_int(std::string_view s, Int& out, Int min, Int max) {
    Int v{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < min || v > max)
        return false;
    out = v;
    return true;
}

// One redis:// URL; the reason in `error` when it is not one.
std::optional<RedisAddress> parse_redis_url(std::string_view url, std::string& error) {
    constexpr std::string_view kScheme = "redis://";
    if (!url.starts_with(kScheme)) {
        error = url.starts_with("rediss://") || url.starts_with("unix://")
                    ? "TLS (rediss://) and Unix sockets are not supported"
                    : "does not start with redis://";
        return std::nullopt;
    }
    std::string_view rest = url.substr(kScheme.size());
    RedisAddress a;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        rest.remove_prefix(at + 1);
        const auto colon = userinfo.find(':');
        auto user = percent_decode(userinfo.substr(0, colon));
        auto password = colon == std::string_view::npos
                            ? std::optional<std::string>("")
                            : percent_decode(userinfo.substr(colon + 1));
        if (!user || !password) {
            error = "a bad %-escape in the user or password";
            return std::nullopt;
        }
        if (password->empty()) {
            error = "a user without a password";
            return std::nullopt;
        }
        a.user = std::move(*user);
        a.password = std::move(*password);
    }
    std::string_view hostport = rest.substr(0, rest.find('/'));
    if (hostport.size() < rest.size()) {
        const std::string_view db = rest.substr(hostport.size() + 1);
        if (!parse_int(db, a.db, 0, std::numeric_limits<int>::max())) {
            error = "'" + std::string(db) + "' is not a database number";
            return std::nullopt;
        }
    }
    std::string_view port;
    if (hostport.starts_with('[')) { // [IPv6]:port
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            error = "an unclosed [ in the host";
            return std::nullopt;
        }
        a.host = std::string(hostport.substr(1, close - 1));
        const std::string_view after = hostport.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) {
            error = "'" + std::string(after) + "' after the host";
            return std::nullopt;
        }
        port = after.empty() ? after : after.substr(1);
        if (after == ":")
            port = ":"; // an empty port is an error below
    } else {
        const auto colon = hostport.find(':');
        a.host = std::string(hostport.substr(0, colon));
        if (colon != std::string_view::npos)
            port = hostport.substr(colon + 1).empty() ? ":" : hostport.substr(colon + 1);
    }
    if (a.host.empty()) {
        error = "no host";
        return std::nullopt;
    }
    if (a.host.find_first_of("?#/ \t") != std::string::npos) {
        error = "'" + a.host + "' is not a host name";
        return std::nullopt;
    }
    if (!port.empty() && !parse_int(port, a.port, 1, 65535)) {
        error = "'" + std::string(port == ":" ? "" : port) + "' is not a port (1-65535)";
        return std::nullopt;
    }
    return a;
}

} // namespace

std::string RedisAddress::str() const {
    const bool v6 = host.find(':') != std::string::npos;
    return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" +
           std::to_string(db);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    struct Unit {
        std::string_view suffix;
        double ms;
    };
    static constexpr Unit kUnits[] = {
        {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}, {"d", 86400e3}};
    double unit = 1e3;
    for (const Unit& u : kUnits) // "ms" before "s" and "m"
        if (text.ends_with(u.suffix)) {
            unit = u.ms;
            text.remove_suffix(u.suffix.size());
            break;
        }
    double n = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    constexpr double kTenYears = 3650 * 86400e3;
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(n >= 0) ||
        n * unit > kTenYears)
        return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(n * unit + 0.5));
}

std::optional<std::vector<RedisAddress>> parse_redis_urls(std::string_view text,
                                                          std::string& error) {
    std::vector<RedisAddress> out;
    while (true) {
        const auto comma = text.find(',');
        std::string_view url = text.substr(0, comma);
        while (url.starts_with(' '))
            url.remove_prefix(1);
        while (url.ends_with(' '))
            url.remove_suffix(1);
        std::string why;
        auto a = url.empty() ? std::nullopt : parse_redis_url(url, why);
        if (!a) {
            // The URL without its credentials, cut short: this goes to a log.
            std::string shown(url.substr(0, std::min<std::size_t>(url.size(), 200)));
            if (auto at = shown.rfind('@'); at != std::string::npos)
                shown = "redis://...@" + shown.substr(at + 1);
            error = url.empty() ? "an empty server in the list"
                                : "'" + shown +
                                      "' is not redis://[[user]:password@]host[:port][/db]: " + why;
            return std::nullopt;
        }
        for (const RedisAddress& seen : out)
            if (seen.str() == a->str()) {
                error = a->str() + " is listed twice";
                return std::nullopt;
            }
        out.push_back(std::move(*a));
        if (comma == std::string_view::npos)
            return out;
        text.remove_prefix(comma + 1);
    }
}

std::optional<std::array<std::uint8_t, 32>> redis_mac_key(std::string_view secret,
                                                          const std::filesystem::path& secret_file,
                                                          std::string& error) {
    if (!secret.empty() && !secret_file.empty()) {
        error = "both a secret and a secret file are given";
        return std::nullopt;
    }
    std::string from_file;
    if (secret.empty() && !secret_file.empty()) {
        const std::string f = secret_file.string();
        const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            error = "KCACHE_REDIS_SECRET_FILE " + f + " cannot be read: " + std::strerror(errno);
            return std::nullopt;
        }
        struct stat st;
        std::string why;
        if (::fstat(fd, &st) != 0)
            why = std::string("cannot stat it: ") + std::strerror(errno);
        else if (!S_ISREG(st.st_mode))
            why = "it is not a regular file";
        else if (st.st_uid != ::geteuid() && st.st_uid != 0)
            why =
                "it is owned by uid " + std::to_string(st.st_uid) + ", neither this user nor root";
        else if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
            why = std::string("others can read it or group or others write it (mode ") + mode +
                  "; chmod 600 it)";
        } else if (st.st_size > 64 * 1024)
            why = "it is over 64 KiB";
        char buf[4096];
        while (why.empty()) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                why = std::string("reading it failed: ") + std::strerror(errno);
            if (n <= 0)
                break;
            from_file.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fd);
        if (!why.empty()) {
            error = "KCACHE_REDIS_SECRET_FILE " + f + " is refused: " + why;
            return std::nullopt;
        }
        if (from_file.ends_with('\n'))
            from_file.pop_back();
        if (from_file.ends_with('\r'))
            from_file.pop_back();
        secret = from_file;
        if (secret.empty()) {
            error = "KCACHE_REDIS_SECRET_FILE " + f + " is empty";
            return std::nullopt;
        }
    }
    if (secret.empty()) {
        error = "KCACHE_REDIS_SECRET is empty: a MAC under an empty key authenticates nothing";
        return std::nullopt;
    }
    return Seal::key_from_secret(secret);
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
        if (auto t = parse_duration(v))
            c.lock_timeout = *t;
        else
            c.warnings.push_back("KCACHE_CACHE_LOCK_TIMEOUT='" + std::string(v) +
                                 "' is not a duration like 30 or 90s; using 30s");
    }
    read_redis(c);
    return c;
}

} // namespace kcache::store
