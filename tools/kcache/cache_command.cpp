// `kcache cache path | stats | ls | show KEY | verify | prune | clear`: the disk tier's
// directory, seen and managed from outside any compilation.
#include "command.hpp"
#include "core/excerpt.hpp"
#include "store/config.hpp"
#include "store/keys.hpp"
#include "store/tiers/disk/disk_tier.hpp"
#include "store/tiers/disk/persistent_stats.hpp"
#include "units.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <memory>

namespace kcache::cli {
namespace {

using Json = nlohmann::ordered_json;
using store::DiskTier;
using Entry = DiskTier::EntryFile;

struct Options {
    bool json = false;
    bool zero = false;
    std::string key;
    std::string max_size;
    std::string older_than;
};

store::StoreConfig config(Session& session) {
    store::StoreConfig c = store::StoreConfig::from_environment();
    for (const std::string& w : c.warnings)
        session.note("warning: " + w);
    if (!c.disk)
        throw Error("the disk tier is off (KCACHE_CACHE=off): there is no store directory");
    return c;
}

std::unique_ptr<DiskTier> open_store(Session& session, std::optional<std::uint64_t> max_size = {}) {
    const store::StoreConfig c = config(session);
    std::string why;
    auto disk = DiskTier::open({c.dir, max_size.value_or(c.max_size), c.lock_timeout}, why);
    if (!disk)
        throw Error("cannot open the store: " + why);
    return disk;
}

std::chrono::seconds age_of(const Entry& e) {
    return std::chrono::seconds(std::max<std::int64_t>(0, std::time(nullptr) - e.mtime.tv_sec));
}

std::string relative_path(const Entry& e) {
    return std::string(e.action ? "ac/" : "cas/") + e.shard + "/" + e.hex;
}

// An entry as `ls`, `show` and `verify` describe it.
struct Described {
    Json json;
    std::string target; ///< "nvptx:sm_80:O2"
    std::string what;   ///< the format (content), or function(types) (action)
    std::string problem;
};

Described describe(const DiskTier& disk, const Entry& e, bool details) {
    Described d;
    const auto decoded = disk.inspect(e);
    d.json = {{"key", e.hex},
              {"kind", e.action ? "action" : "content"},
              {"path", relative_path(e)},
              {"size", e.size},
              {"age_seconds", age_of(e).count()}};
    if (!decoded) {
        d.problem = decoded.error;
        d.json["ok"] = false;
        d.json["problem"] = decoded.error;
        return d;
    }
    d.json["ok"] = true;
    const store::AnyEntry& any = decoded.value;
    const store::CompileEnv& env = any.action ? any.action->key.env : any.content_key->env;
    d.target = to_string(env.spec);
    d.json["target"] = std::string(to_string(env.spec.kind));
    d.json["arch"] = env.spec.arch;
    d.json["opt_level"] = env.spec.opt_level;
    if (any.action) {
        const store::ActionEntry& a = *any.action;
        d.what = a.key.function + "(" + a.key.arg_types + ")";
        d.json["function"] = a.key.function;
        d.json["arg_types"] = a.key.arg_types;
        d.json["method_table"] = a.key.table;
        d.json["content_key"] = a.content_key().digest().hex();
        if (details) {
            Json dispatches = Json::array();
            for (const auto& r : a.dispatches)
                dispatches.push_back({{"function", r.function},
                                      {"arg_types", r.arg_types},
                                      {"table", r.chosen_table},
                                      {"source", r.chosen_source.hex()}});
            d.json["entry_source"] = a.key.entry_source.hex();
            d.json["dispatches"] = dispatches;
        }
    } else {
        const Artifact& art = *any.artifact;
        d.what = art.format;
        d.json["format"] = art.format;
        if (details) {
            d.json["kernel_symbol"] = art.kernel_symbol;
            d.json["code_bytes"] = art.bytes.size();
            d.json["ptx_bytes"] = art.ptx.size();
            d.json["static_shared_bytes"] = art.static_shared_bytes;
            d.json["notes"] = art.notes;
            d.json["ir_digest"] = any.content_key->ir.hex();
            d.json["compile_ms"] = {
                {"prepare", std::chrono::duration<double, std::milli>(art.times.prepare).count()},
                {"optimize", std::chrono::duration<double, std::milli>(art.times.optimize).count()},
                {"emit", std::chrono::duration<double, std::milli>(art.times.emit).count()}};
        }
    }
    if (details)
        d.json["toolchain"] = {
            {"triple", env.toolchain.triple},     {"cpu", env.toolchain.cpu},
            {"features", env.toolchain.features}, {"llvm", env.toolchain.llvm_version},
            {"tools", env.toolchain.tools},       {"libraries", env.toolchain.libraries},
            {"compiler_id", env.compiler},        {"schema", env.schema}};
    return d;
}

std::uint64_t total_size(const std::vector<Entry>& entries) {
    std::uint64_t n = 0;
    for (const Entry& e : entries)
        n += e.size;
    return n;
}

// Adds `evictions` and `corrupt` found by a command to the kept totals (a warning if it cannot).
void count(Session& session, const DiskTier& disk, std::uint64_t evictions, std::uint64_t corrupt) {
    store::StoreStats delta;
    store::TierStats t;
    t.evictions = evictions;
    t.corrupt = corrupt;
    delta.tiers.emplace_back("disk", t);
    std::string why;
    if (!store::add_persistent_stats(disk.options().root, delta, why))
        session.note("warning: statistics not kept: " + why);
}

int run_path(const Options& o, Session& session) {
    const store::StoreConfig c = config(session);
    if (o.json)
        session.out << Json{{"directory", c.dir.string()}}.dump() << "\n";
    else
        session.out << c.dir.string() << "\n";
    return kOk;
}

int run_stats(const Options& o, Session& session) {
    auto disk = open_store(session);
    const auto& root = disk->options().root;
    if (o.zero) {
        std::string why;
        if (!store::clear_persistent_stats(root, why))
            throw Error("cannot zero the statistics: " + why);
        session.note("statistics zeroed");
        return kOk;
    }
    std::string why;
    auto totals = store::read_persistent_stats(root, why);
    if (!totals)
        throw Error("cannot read the statistics: " + why);
    if (!why.empty())
        session.note("warning: " + why);
    std::uint64_t content = 0, action = 0;
    const auto entries = disk->list_entries();
    for (const Entry& e : entries)
        (e.action ? action : content) += 1;
    const std::uint64_t bytes = total_size(entries);
    const store::StoreStats& s = *totals;
    if (o.json) {
        Json tiers = Json::object();
        for (const auto& [name, t] : s.tiers)
            tiers[name] = {{"hits", t.hits},
                           {"misses", t.misses},
                           {"bytes_read", t.bytes_read},
                           {"bytes_written", t.bytes_written},
                           {"corrupt", t.corrupt},
                           {"evictions", t.evictions},
                           {"lock_waits", t.lock_waits},
                           {"lock_timeouts", t.lock_timeouts},
                           {"errors", t.errors},
                           {"rejected", t.rejected},
                           {"dropped", t.dropped},
                           {"backoffs", t.backoffs},
                           {"connects", t.connects},
                           {"connect_timeouts", t.connect_timeouts},
                           {"timeouts", t.timeouts}};
        session.out << Json{{"directory", root.string()},
                            {"schema", store::kSchemaVersion},
                            {"entries",
                             {{"content", content},
                              {"action", action},
                              {"bytes", bytes},
                              {"max_bytes", disk->options().max_size}}},
                            {"compiled", s.published},
                            {"recalls", s.recalls},
                            {"recall_misses", s.recall_misses},
                            {"recall_stale", s.recall_stale},
                            {"recall_errors", s.recall_errors},
                            {"content_hits", s.content_hits},
                            {"tiers", tiers}}
                           .dump(2)
                    << "\n";
        return kOk;
    }
    auto& out = session.out;
    out << "store:        " << root.string() << " (schema " << store::kSchemaVersion << ")\n"
        << "entries:      " << content << " content, " << action << " action; "
        << format_size(bytes) << " of " << format_size(disk->options().max_size) << "\n"
        << "compilations: " << s.published << " compiled and stored, " << s.recalls
        << " recalled (no IR built), " << s.content_hits << " found by IR hash"
        << (s.recall_errors ? ", " + std::to_string(s.recall_errors) + " recalls failed" : "")
        << "\n";
    for (const auto& [name, t] : s.tiers)
        out << std::left << std::setw(14) << name + ":" << std::right << t.hits << " hits, "
            << t.misses << " misses, " << format_size(t.bytes_read) << " read, "
            << format_size(t.bytes_written) << " written, " << t.corrupt << " corrupt, "
            << t.evictions << " evicted, " << t.lock_waits << " lock waits, " << t.errors
            << " errors"
            << (t.lock_timeouts ? ", " + std::to_string(t.lock_timeouts) + " lock timeouts" : "")
            << (t.connect_timeouts ? ", " + std::to_string(t.connect_timeouts) + " connect timeouts"
                                   : "")
            << (t.timeouts ? ", " + std::to_string(t.timeouts) + " timeouts" : "")
            << (t.rejected ? ", " + std::to_string(t.rejected) + " rejected" : "")
            << (t.dropped ? ", " + std::to_string(t.dropped) + " uploads dropped" : "") << "\n";
    if (s.tiers.empty())
        out << "(no statistics kept yet: nothing has compiled through this store)\n";
    return kOk;
}

int run_ls(const Options& o, Session& session) {
    auto disk = open_store(session);
    auto entries = disk->list_entries();
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.mtime.tv_sec != b.mtime.tv_sec)
            return a.mtime.tv_sec > b.mtime.tv_sec; // most recently used first
        return a.hex < b.hex;
    });
    Json list = Json::array();
    if (!o.json)
        session.out << std::left << std::setw(18) << "KEY" << std::setw(9) << "KIND"
                    << std::setw(28) << "TARGET" << std::setw(11) << "SIZE" << std::setw(6) << "AGE"
                    << "WHAT\n";
    for (const Entry& e : entries) {
        Described d = describe(*disk, e, false);
        if (o.json) {
            list.push_back(std::move(d.json));
            continue;
        }
        session.out << std::left << std::setw(18) << e.hex.substr(0, 16) << std::setw(9)
                    << (e.action ? "action" : "content") << std::setw(28)
                    << (d.problem.empty() ? d.target : "?") << std::setw(11) << format_size(e.size)
                    << std::setw(6) << format_age(age_of(e))
                    << (d.problem.empty() ? d.what : "BAD: " + d.problem) << "\n";
    }
    if (o.json)
        session.out << Json{{"entries", list}}.dump(2) << "\n";
    return kOk;
}

int run_show(const Options& o, Session& session) {
    std::string prefix = o.key;
    std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (prefix.empty() || prefix.size() > 64 ||
        prefix.find_first_not_of("0123456789abcdef") != std::string::npos)
        throw UsageError("'" + excerpt(o.key) +
                         "' is not a key: 1 to 64 hex digits (as `kcache cache ls` shows them)");
    auto disk = open_store(session);
    std::vector<Entry> matches;
    for (Entry& e : disk->list_entries())
        if (e.hex.starts_with(prefix))
            matches.push_back(std::move(e));
    if (matches.empty())
        throw Error("no entry's key starts with " + prefix);
    if (matches.size() > 1) {
        std::string some;
        for (std::size_t i = 0; i < matches.size() && i < 5; ++i)
            some += " " + matches[i].hex.substr(0, 16);
        throw UsageError(std::to_string(matches.size()) + " entries' keys start with " + prefix +
                         ":" + some + (matches.size() > 5 ? " ..." : "") + "; give more digits");
    }
    Described d = describe(*disk, matches.front(), true);
    d.json["path"] = (disk->options().root / "v1" / relative_path(matches.front())).string();
    if (o.json) {
        session.out << d.json.dump(2) << "\n";
    } else {
        auto line = [&](std::string name, const Json& value) {
            name.resize(std::max<std::size_t>(name.size(), 22), ' ');
            session.out << name << (value.is_string() ? value.get<std::string>() : value.dump())
                        << "\n";
        };
        for (const auto& [field, value] : d.json.items()) {
            if (!value.is_object()) {
                line(field, value);
                continue;
            }
            for (const auto& [inner, v] : value.items())
                line(field + "." + inner, v);
        }
    }
    return d.problem.empty() ? kOk : kFailed;
}

int run_verify(const Options& o, Session& session) {
    auto disk = open_store(session);
    const auto entries = disk->list_entries();
    Json bad = Json::array();
    std::uint64_t removed = 0;
    for (const Entry& e : entries) {
        const auto decoded = disk->inspect(e);
        if (decoded)
            continue;
        const bool gone = disk->remove(e);
        removed += gone;
        bad.push_back({{"key", e.hex},
                       {"path", relative_path(e)},
                       {"problem", decoded.error},
                       {"removed", gone}});
        if (!o.json)
            session.out << (gone ? "removed " : "could not remove ") << relative_path(e) << ": "
                        << excerpt(decoded.error) << "\n";
    }
    if (!bad.empty())
        count(session, *disk, 0, bad.size());
    if (o.json)
        session.out << Json{{"checked", entries.size()},
                            {"bad", bad.size()},
                            {"removed", removed},
                            {"entries", bad}}
                           .dump(2)
                    << "\n";
    else
        session.out << "checked " << entries.size() << " entries ("
                    << format_size(total_size(entries)) << "): " << bad.size() << " bad, "
                    << removed << " removed\n";
    return bad.empty() ? kOk : kFailed;
}

int run_prune(const Options& o, Session& session) {
    if (o.max_size.empty() && o.older_than.empty())
        throw UsageError("say what to prune: --max-size SIZE and/or --older-than AGE");
    std::optional<std::uint64_t> max_size;
    if (!o.max_size.empty() && !(max_size = parse_size_text(o.max_size)))
        throw UsageError("--max-size: '" + excerpt(o.max_size) + "' is not a size like 500M or 2G");
    std::optional<std::chrono::milliseconds> older_than;
    if (!o.older_than.empty() && !(older_than = store::parse_duration(o.older_than)))
        throw UsageError("--older-than: '" + excerpt(o.older_than) +
                         "' is not an age like 7d, 12h or 30m");
    auto disk = open_store(session, max_size);
    const auto before = disk->list_entries();
    std::uint64_t removed = 0;
    if (older_than) {
        // Action entries first, as the collector does: none is left naming removed content.
        std::vector<Entry> old;
        for (const Entry& e : before)
            if (age_of(e) > *older_than)
                old.push_back(e);
        std::stable_partition(old.begin(), old.end(), [](const Entry& e) { return e.action; });
        for (const Entry& e : old)
            removed += disk->remove(e);
    }
    if (max_size) {
        disk->collect(); // least recently used first, down to 90 % of the size
        removed += disk->stats().evictions;
    }
    const auto after = disk->list_entries();
    if (removed)
        count(session, *disk, removed, 0);
    const std::uint64_t freed =
        total_size(before) - std::min(total_size(before), total_size(after));
    if (o.json)
        session.out << Json{{"removed", removed},
                            {"removed_bytes", freed},
                            {"entries", after.size()},
                            {"bytes", total_size(after)}}
                           .dump()
                    << "\n";
    else
        session.out << "removed " << removed << " entries (" << format_size(freed) << "); "
                    << after.size() << " entries (" << format_size(total_size(after)) << ") left\n";
    return kOk;
}

int run_clear(const Options& o, Session& session) {
    auto disk = open_store(session);
    const auto entries = disk->list_entries();
    std::uint64_t removed = 0;
    for (const Entry& e : entries)
        if (e.action)
            removed += disk->remove(e);
    for (const Entry& e : entries)
        if (!e.action)
            removed += disk->remove(e);
    disk->collect(); // records the new size, sweeps old temporary files
    if (o.json)
        session.out << Json{{"removed", removed}, {"removed_bytes", total_size(entries)}}.dump()
                    << "\n";
    else
        session.out << "removed " << removed << " entries (" << format_size(total_size(entries))
                    << ") from " << disk->options().root.string() << "\n";
    return kOk;
}

void sub(CLI::App& cache, Session& session, const char* name, const char* summary,
         const char* description, const std::shared_ptr<Options>& o,
         int (*run)(const Options&, Session&), bool json = true) {
    CLI::App* cmd = cache.add_subcommand(name, summary);
    cmd->footer(description);
    if (json)
        cmd->add_flag("--json", o->json, "print JSON");
    if (std::string_view(name) == "show")
        cmd->add_option("key", o->key, "a key, or a prefix of one unique in the store")->required();
    if (std::string_view(name) == "stats")
        cmd->add_flag("--zero", o->zero, "set the kept statistics to zero");
    if (std::string_view(name) == "prune") {
        cmd->add_option("--max-size", o->max_size,
                        "SIZE like 500M or 2G: least recently used entries go until the store "
                        "is at 90 % of it");
        cmd->add_option("--older-than", o->older_than,
                        "AGE like 7d, 12h, 30m (a number alone is seconds): entries not used "
                        "for that long go");
    }
    on_parsed(*cmd, session, std::string("cache ") + name,
              [o, run, &session] { return run(*o, session); });
}

} // namespace

void add_cache_command(CLI::App& app, Session& session) {
    CLI::App* cache = app.add_subcommand("cache", "see and manage the store on disk");
    cache->footer(
        "The store's disk tier: $KCACHE_CACHE_DIR, else $XDG_CACHE_HOME/kcache, else "
        "~/.cache/kcache. Keys are the hex digests entry files are named by; `ls` shows their "
        "first 16 digits, and `show` takes any unique prefix.");
    cache->require_subcommand(1);
    auto o = std::make_shared<Options>();
    sub(*cache, session, "path", "the store's directory", "Prints the store's directory.", o,
        run_path);
    sub(*cache, session, "stats", "statistics kept across processes, and the store's size",
        "Hits and misses per tier, compilations, corrupt entries, evictions and bytes, summed "
        "over every process that used this store (each adds its counts when it ends), and the "
        "entries and bytes the store holds against its cap.",
        o, run_stats);
    sub(*cache, session, "ls", "list the entries: key, kind, target, size, age",
        "Lists every entry, most recently used first: the key's first 16 hex digits, content "
        "(compiled code) or action (a compilation's record), target:arch:opt, size, time since "
        "its last use, and its format or the function and argument types it compiles. A bad "
        "entry is shown as BAD with the reason (`verify` removes them).",
        o, run_ls);
    sub(*cache, session, "show", "everything one entry holds",
        "Prints every field of one entry: its key fields and toolchain, and its code's format, "
        "sizes, notes and compile times, or the dispatches a compilation made. KEY may be any "
        "prefix of one key. Exit status 1 when the entry is bad.",
        o, run_show);
    sub(*cache, session, "verify", "check every entry, remove bad ones",
        "Reads every entry with the checks a lookup makes (ownership, size, seal, key fields, "
        "kind) and removes those that fail. Exit status 1 when it found any.",
        o, run_verify);
    sub(*cache, session, "prune", "remove old entries, or shrink the store",
        "With --older-than, removes the entries not used for that long; with --max-size, "
        "removes the least recently used until the store is at 90 % of that size (as the "
        "automatic cap does).",
        o, run_prune);
    sub(*cache, session, "clear", "remove every entry (the statistics stay)",
        "Removes every entry. The statistics stay: `kcache cache stats --zero` resets them.", o,
        run_clear);
}

} // namespace kcache::cli
