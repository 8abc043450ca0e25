#include "store/tiers/disk/persistent_stats.hpp"

#include "core/log.hpp"
#include "store/file_descriptor.hpp"
#include "store/tiers/disk/disk_tier.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace kcache::store {
namespace {

constexpr std::size_t kMaxStatsBytes = 64 * 1024; // far more than any store has tiers for
constexpr std::size_t kMaxNameBytes = 64;

struct StoreCounter {
    std::string_view name;
    std::uint64_t StoreStats::*field;
};
constexpr StoreCounter kStoreCounters[] = {
    {"recalls", &StoreStats::recalls},           {"recall_misses", &StoreStats::recall_misses},
    {"recall_stale", &StoreStats::recall_stale}, {"content_hits", &StoreStats::content_hits},
    {"published", &StoreStats::published},       {"recall_errors", &StoreStats::recall_errors},
};

struct TierCounter {
    std::string_view name;
    std::uint64_t TierStats::*field;
};
constexpr TierCounter kTierCounters[] = {
    {"hits", &TierStats::hits},
    {"misses", &TierStats::misses},
    {"bytes_read", &TierStats::bytes_read},
    {"bytes_written", &TierStats::bytes_written},
    {"corrupt", &TierStats::corrupt},
    {"evictions", &TierStats::evictions},
    {"lock_waits", &TierStats::lock_waits},
    {"lock_timeouts", &TierStats::lock_timeouts},
    {"errors", &TierStats::errors},
    {"rejected", &TierStats::rejected},
    {"dropped", &TierStats::dropped},
    {"backoffs", &TierStats::backoffs},
    {"connects", &TierStats::connects},
    {"connect_timeouts", &TierStats::connect_timeouts},
    {"timeouts", &TierStats::timeouts},
};

TierStats& tier_of(StoreStats& s, std::string_view name) {
    for (auto& [n, t] : s.tiers)
        if (n == name)
            return t;
    return s.tiers.emplace_back(std::string(name), TierStats{}).second;
}

bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// One `<scope>.<counter> <value>` line into `s`; false when it is not one.
bool parse_line(std::string_view line, StoreStats& s) {
    const auto space = line.find(' ');
    const auto dot = line.find('.');
    if (space == std::string_view::npos || dot == std::string_view::npos || dot > space ||
        space > kMaxNameBytes)
        return false;
    const std::string_view scope = line.substr(0, dot);
    const std::string_view counter = line.substr(dot + 1, space - dot - 1);
    if (scope.empty() || !std::all_of(scope.begin(), scope.end(), name_char))
        return false;
    std::uint64_t value = 0;
    const std::string_view number = line.substr(space + 1);
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size())
        return false;
    if (scope == "store") {
        for (const auto& c : kStoreCounters)
            if (c.name == counter) {
                s.*c.field = value;
                return true;
            }
        return false;
    }
    for (const auto& c : kTierCounters)
        if (c.name == counter) {
            tier_of(s, scope).*c.field = value;
            return true;
        }
    return false;
}

std::string format(const StoreStats& s) {
    std::string text;
    auto line = [&](std::string_view scope, std::string_view name, std::uint64_t v) {
        text.append(scope)
            .append(".")
            .append(name)
            .append(" ")
            .append(std::to_string(v))
            .append("\n");
    };
    for (const auto& c : kStoreCounters)
        line("store", c.name, s.*c.field);
    for (const auto& [tier, t] : s.tiers)
        for (const auto& c : kTierCounters)
            line(tier, c.name, t.*c.field);
    return text;
}

std::string errno_text() {
    return std::strerror(errno);
}

// <root>/v1, never through a symlink below the root.
Fd open_v1(const std::filesystem::path& root, std::string& why) {
    Fd r(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!r) {
        why = "cannot open the store directory " + root.string() + ": " + errno_text();
        return Fd();
    }
    Fd v1(::openat(r.get(), "v1", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!v1)
        why = "cannot open " + (root / "v1").string() + ": " + errno_text();
    return v1;
}

// The totals in v1/stats (zeros when absent); nullopt when unreadable. Skipped lines are noted
// in `why`.
std::optional<StoreStats> read_file(int v1, std::string& why) {
    StoreStats s;
    Fd fd(::openat(v1, "stats", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            return s;
        why = std::string("cannot open v1/stats: ") + errno_text();
        return std::nullopt;
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
        why = "v1/stats is not a regular file of this user's; ignored";
        return s;
    }
    std::string text(std::min<std::size_t>(static_cast<std::size_t>(st.st_size), kMaxStatsBytes),
                     '\0');
    text.resize(read_all(fd.get(), text.data(), text.size()));
    std::size_t skipped = 0;
    for (std::string_view rest = text; !rest.empty();) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (!line.empty() && !parse_line(line, s))
            ++skipped;
    }
    if (skipped)
        why = "skipped " + std::to_string(skipped) + " line(s) of v1/stats that are no counters";
    return s;
}

bool write_file(int v1, const StoreStats& s, std::string& why) {
    const std::string tmp = "stats." + std::to_string(::getpid()) + ".tmp";
    Fd fd(::openat(v1, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
        why = std::string("cannot write v1/") + tmp + ": " + errno_text();
        return false;
    }
    const std::string text = format(s);
    if (const int err = write_all(fd.get(), text.data(), text.size())) {
        why = std::string("cannot write v1/stats: ") + std::strerror(err);
        ::unlinkat(v1, tmp.c_str(), 0);
        return false;
    }
    if (::close(fd.release()) != 0 || ::renameat(v1, tmp.c_str(), v1, "stats") != 0) {
        why = std::string("cannot write v1/stats: ") + errno_text();
        ::unlinkat(v1, tmp.c_str(), 0);
        return false;
    }
    return true;
}

// Runs `update` on the totals under the stats lock and writes the result.
template <class Update>
bool locked_update(const std::filesystem::path& root, std::string& why, Update&& update) {
    Fd v1 = open_v1(root, why);
    if (!v1)
        return false;
    Fd lock(::openat(v1.get(), "stats.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock) {
        why = std::string("cannot open v1/stats.lock: ") + errno_text();
        return false;
    }
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR) {
            why = std::string("cannot lock v1/stats.lock: ") + errno_text();
            return false;
        }
    std::string ignored;
    StoreStats totals = read_file(v1.get(), ignored).value_or(StoreStats{});
    update(totals);
    return write_file(v1.get(), totals, why); // the lock goes with its descriptor
}

} // namespace

StoreStats stats_difference(const StoreStats& after, const StoreStats& before) {
    StoreStats d;
    for (const auto& c : kStoreCounters)
        d.*c.field = after.*c.field - before.*c.field;
    for (const auto& [name, t] : after.tiers) {
        TierStats& out = tier_of(d, name);
        const TierStats* b = nullptr;
        for (const auto& [bn, bt] : before.tiers)
            if (bn == name)
                b = &bt;
        for (const auto& c : kTierCounters)
            out.*c.field = t.*c.field - (b ? b->*c.field : 0);
    }
    return d;
}

bool add_persistent_stats(const std::filesystem::path& root, const StoreStats& delta,
                          std::string& why) {
    return locked_update(root, why, [&](StoreStats& totals) {
        for (const auto& c : kStoreCounters)
            totals.*c.field += delta.*c.field;
        for (const auto& [name, t] : delta.tiers) {
            TierStats& out = tier_of(totals, name);
            for (const auto& c : kTierCounters)
                out.*c.field += t.*c.field;
        }
    });
}

std::optional<StoreStats> read_persistent_stats(const std::filesystem::path& root,
                                                std::string& why) {
    Fd v1 = open_v1(root, why);
    if (!v1)
        return std::nullopt;
    return read_file(v1.get(), why);
}

bool clear_persistent_stats(const std::filesystem::path& root, std::string& why) {
    return locked_update(root, why, [](StoreStats& totals) { totals = StoreStats{}; });
}

StatsRecorder::StatsRecorder(const Store& store) : store_(store), flushed_(store.stats()) {
    if (auto* disk = dynamic_cast<const DiskTier*>(store.tier("disk")))
        root_ = disk->options().root;
}

StatsRecorder::~StatsRecorder() {
    flush();
}

void StatsRecorder::flush() {
    if (!root_)
        return;
    StoreStats now = store_.stats();
    std::string why;
    if (!add_persistent_stats(*root_, stats_difference(now, flushed_), why))
        log().warn("kcache store: statistics not kept: {}", why);
    flushed_ = std::move(now);
}

} // namespace kcache::store
