// `kcache warm`'s engine (tools/kcache/warm.hpp), by number of jobs (issue 8):
//
//   BM_Warm/jobs:N   the library's kernels (every example specialisation) for nvptx sm_80 and
//                    sm_90 and the host at O2, compiled by N threads into a store with an empty
//                    disk directory and a fresh KernelCompiler each iteration; items/s is the
//                    throughput. The goal: jobs:2 at least 1.8x jobs:1 on two cores.
#include "store/store.hpp"
#include "store/tiers/disk/disk_tier.hpp"
#include "store/tiers/memory/memory_tier.hpp"
#include "warm.hpp"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <unistd.h>

namespace {

using namespace kcache;
namespace fs = std::filesystem;

std::vector<cli::WarmItem> library_plan() {
    const std::vector<kernels::KernelInfo> lib = kernels::register_all();
    const std::string items[] = {"nvptx:sm_80,sm_90", "host"};
    const int opt[] = {2};
    const auto specs = cli::parse_warm_targets(items, opt);
    return cli::warm_plan(lib, specs);
}

void BM_Warm(benchmark::State& state) {
    const unsigned jobs = static_cast<unsigned>(state.range(0));
    const std::vector<cli::WarmItem> plan = library_plan();
    std::size_t run = 0, failed = 0;
    for (auto _ : state) {
        state.PauseTiming();
        const fs::path dir =
            fs::temp_directory_path() /
            ("kcache-bench-warm-" + std::to_string(::getpid()) + "-" + std::to_string(run++));
        fs::remove_all(dir);
        std::vector<std::unique_ptr<store::Tier>> tiers;
        tiers.push_back(std::make_unique<store::MemoryTier>(std::uint64_t(1) << 30));
        std::string why;
        auto disk = store::DiskTier::open({dir}, why);
        if (!disk) {
            state.SkipWithError(why.c_str());
            return;
        }
        tiers.push_back(std::move(disk));
        auto store = std::make_unique<store::Store>(std::move(tiers));
        auto compiler = std::make_unique<kernels::KernelCompiler>(MethodTable::global(),
                                                                  "bench.warm", store.get());
        state.ResumeTiming();

        failed += cli::warm(*compiler, plan, jobs).failures.size();

        state.PauseTiming();
        compiler.reset();
        store.reset();
        fs::remove_all(dir);
        state.ResumeTiming();
    }
    if (failed)
        state.SkipWithError("items failed");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * plan.size()));
    state.counters["items"] = static_cast<double>(plan.size());
}

BENCHMARK(BM_Warm)->ArgName("jobs")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
