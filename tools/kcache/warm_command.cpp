// `kcache warm`: the store filled ahead of the first launch, kernels x archs x opt levels in
// parallel, with a progress bar on a terminal and one summary line.
#include "command.hpp"
#include "core/excerpt.hpp"
#include "kernels/library/library.hpp"
#include "progress.hpp"
#include "store/store.hpp"
#include "store/tiers/disk/persistent_stats.hpp"
#include "targets/target_errors.hpp"
#include "targets/target_registry.hpp"
#include "warm.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <thread>

namespace kcache::cli {
namespace {

struct Options {
    std::vector<std::string> kernels;
    std::vector<std::string> targets{"nvptx", "amdgpu", "host"};
    std::vector<int> opt_levels{2};
    unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
    bool json = false;
};

// Items given as several words or one quoted string: "nvptx:sm_80 host" is two.
std::vector<std::string> words(const std::vector<std::string>& items) {
    std::vector<std::string> out;
    for (const std::string& item : items)
        for (std::size_t start = 0; start < item.size();) {
            const auto space = std::min(item.find(' ', start), item.size());
            if (space > start)
                out.push_back(item.substr(start, space - start));
            start = space + 1;
        }
    return out;
}

int run_warm(const Options& o, Session& session) {
    std::vector<kernels::KernelInfo> all = kernels::register_all(), chosen;
    for (const std::string& name : o.kernels) {
        const kernels::KernelInfo* k = kernels::find_kernel(all, name);
        if (!k) {
            std::string names;
            for (const auto& i : all)
                names += " " + i.name;
            throw UsageError("unknown kernel '" + excerpt(name) + "'; kernels:" + names);
        }
        chosen.push_back(*k);
    }
    if (o.kernels.empty())
        chosen = all;
    std::vector<TargetSpec> specs;
    try {
        specs = parse_warm_targets(words(o.targets), o.opt_levels);
    } catch (const Error& e) {
        throw UsageError(std::string("--targets: ") + e.what());
    }
    const std::vector<WarmItem> plan = warm_plan(chosen, specs);

    store::Store& store = store::process_store();
    store::StatsRecorder recorder(store);
    const store::StoreStats before = store.stats();
    kernels::KernelCompiler compiler(MethodTable::global(), "kcache.kernels", &store);
    ProgressBar bar(session.err, session.terminal.err && !o.json, plan.size());
    const WarmResult r =
        warm(compiler, plan, o.jobs, [&](const WarmItem& item) { bar.advance(item.label); });
    bar.finish();
    const store::StoreStats delta = store::stats_difference(store.stats(), before);
    const std::uint64_t from_store = delta.recalls + delta.content_hits;
    const double seconds = std::chrono::duration<double>(r.wall).count();

    for (const WarmFailure& f : r.failures)
        session.note("failed: " + f.label + ": " + excerpt(f.error));
    if (o.json) {
        nlohmann::ordered_json failures = nlohmann::ordered_json::array();
        for (const WarmFailure& f : r.failures)
            failures.push_back({{"item", f.label}, {"error", f.error}});
        session.out
            << nlohmann::ordered_json{{"items", r.done},          {"kernels", chosen.size()},
                                      {"specs", specs.size()},    {"compiled", delta.published},
                                      {"from_store", from_store}, {"failed", r.failures.size()},
                                      {"seconds", seconds},       {"jobs", o.jobs},
                                      {"failures", failures}}
                   .dump()
            << "\n";
    } else {
        char line[256];
        std::snprintf(line, sizeof line,
                      "%zu items (%zu kernels x %zu specs): %llu compiled, %llu from the store, "
                      "%zu failed, in %.3f s with %u job%s",
                      r.done, chosen.size(), specs.size(),
                      static_cast<unsigned long long>(delta.published),
                      static_cast<unsigned long long>(from_store), r.failures.size(), seconds,
                      o.jobs, o.jobs == 1 ? "" : "s");
        session.note(line);
    }
    return r.failures.empty() ? kOk : kFailed;
}

} // namespace

void add_warm_command(CLI::App& app, Session& session) {
    auto o = std::make_shared<Options>();
    CLI::App* cmd =
        app.add_subcommand("warm", "precompile kernels x archs x opt levels into the store");
    cmd->footer(
        "Compiles every example specialisation of the chosen library kernels (see `kcache "
        "kernels`) for every target spec into the store, in parallel, so that the first launch "
        "finds its code. A progress bar when standard error is a terminal, one summary line "
        "otherwise; exit status 1 when an item failed (each is listed).\n\n"
        "Example:\n"
        "  kcache warm --kernels saxpy,vadd --targets nvptx:sm_80,sm_90 amdgpu:gfx90a host -O 2,3");
    cmd->add_option("--kernels", o->kernels, "kernels, comma-separated (default: all)")
        ->delimiter(',');
    cmd->add_option("--targets", o->targets,
                    "TARGET[:ARCH,ARCH...] ...: archs per target, none for its default "
                    "(default: nvptx amdgpu host)");
    cmd->add_option("-O", o->opt_levels, "optimisation levels, comma-separated (default 2)")
        ->delimiter(',')
        ->check(CLI::Range(0, 3));
    cmd->add_option("-j,--jobs", o->jobs, "compilations in parallel (default: the core count)")
        ->check(CLI::Range(1u, 1024u));
    cmd->add_flag("--json", o->json, "the summary as one JSON object");
    on_parsed(*cmd, session, "warm", [o, &session] { return run_warm(*o, session); });
}

} // namespace kcache::cli
