// The store (issue 7), against cold compiles of the same kernels measured in the same run.
//
//   BM_ColdCompile/<kernel>/<target>       as in kcache_bench_targets: no store, fresh cache
//   BM_CanonicalHash/<kernel>              canonicalise the prepared nvptx module and BLAKE3 it
//                                          (the prepared module is made outside the timing)
//   BM_WarmStart/<kernel>/<target>         a fresh KernelCompiler (new cache, new memory tier,
//                                          the disk tier opened again) over a directory that holds
//                                          the kernel's entries: compile() to the artifact, served
//                                          by the action cache without building IR
//   BM_WarmStartByIRHash/<kernel>/<target> the same with no action entry: build, prepare,
//                                          canonicalise and hash, then the content entry
//   BM_DiskHit                             DiskTier::get of a content entry (open, read, check)
//   BM_MemoryStoreHit                      MemoryTier::get of a content entry
//   BM_KcacheRun/first, /second            `kcache run --device host` as a process on an empty
//                                          store, then again on the store the first one filled
//   BM_RedisHit/<kernel>                   as BM_WarmStart for nvptx, with Redis instead of the
//                                          disk: a fresh memory tier and Redis tier (a new
//                                          connection) over a redis-server on loopback that
//                                          holds the kernel's entries; one round trip
#include "cold_compile.hpp"
#include "store/canonical_ir.hpp"
#include "store/store.hpp"
#include "store/tiers/disk/disk_tier.hpp"
#include "store/tiers/memory/memory_tier.hpp"
#include "store/tiers/redis/redis_tier.hpp"
#include "targets/target.hpp"
#include "test_redis.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using namespace kcache;
namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
    const fs::path p = fs::temp_directory_path() /
                       ("kcache-bench-store-" + std::to_string(::getpid()) + "-" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    fs::permissions(p, fs::perms::owner_all);
    return p;
}

std::unique_ptr<store::Store> store_at(const fs::path& dir) {
    std::vector<std::unique_ptr<store::Tier>> tiers;
    tiers.push_back(std::make_unique<store::MemoryTier>(std::uint64_t(1) << 30));
    std::string why;
    if (auto disk = store::DiskTier::open({dir}, why))
        tiers.push_back(std::move(disk));
    return std::make_unique<store::Store>(std::move(tiers));
}

void canonical_hash(benchmark::State& state, const kernels::KernelInfo& info) {
    const Function& f = Function::named(info.name);
    const TargetSpec spec = bench::spec_for(TargetKind::nvptx());
    kernels::KernelCompiler kc(MethodTable::global(), "bench-hash");
    for (auto _ : state) {
        state.PauseTiming();
        llvm::LLVMContext ctx;
        auto m = kc.build_module(f, info.examples.front(), spec, ctx);
        spec.kind.target().prepare(*m, info.name, spec);
        state.ResumeTiming();
        store::canonicalize(*m);
        benchmark::DoNotOptimize(store::canonical_digest(*m));
        state.PauseTiming();
        m.reset(); // destroyed outside the timing
        state.ResumeTiming();
    }
}

// `by_ir_hash`: the action entries are removed first, so the content key must be computed.
void warm_start(benchmark::State& state, const kernels::KernelInfo& info, TargetKind kind,
                bool by_ir_hash) {
    const Function& f = Function::named(info.name);
    const Type tt = info.examples.front();
    const TargetSpec spec = bench::spec_for(kind);
    const fs::path dir = scratch(info.name + "-" + std::string(to_string(kind)));
    {
        auto filled = store_at(dir);
        kernels::KernelCompiler kc(MethodTable::global(), "bench-fill", filled.get());
        kc.compile(f, tt, spec);
    }
    auto forget_actions = [&] {
        fs::remove_all(dir / "v1" / "ac");
        fs::create_directory(dir / "v1" / "ac");
        fs::permissions(dir / "v1" / "ac", fs::perms::owner_all);
    };
    std::uint64_t recalls = 0, content_hits = 0;
    std::chrono::nanoseconds ir_gen{0};
    for (auto _ : state) {
        if (by_ir_hash) { // each compile records its action again
            state.PauseTiming();
            forget_actions();
            state.ResumeTiming();
        }
        auto s = store_at(dir); // nothing in memory: as in a new process
        kernels::KernelCompiler kc(MethodTable::global(), "bench-warm", s.get());
        benchmark::DoNotOptimize(kc.compile(f, tt, spec));
        recalls += s->stats().recalls;
        content_hits += s->stats().content_hits;
        ir_gen += kc.stats().build + kc.stats().prepare;
    }
    if (recalls + content_hits != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("the store did not answer every compile");
    state.counters["recalled"] = double(recalls) / double(state.iterations());
    state.counters["ir_gen_us"] = double(ir_gen.count()) / 1e3 / double(state.iterations());
    fs::remove_all(dir);
}

// A typical entry: saxpy for nvptx (PTX and, with nvJitLink, a cubin).
struct Entry {
    fs::path dir = scratch("hit");
    std::unique_ptr<store::Store> filler = store_at(dir);
    store::ContentKey key;
    Entry() {
        const TargetSpec spec = bench::spec_for(TargetKind::nvptx());
        const auto all = kernels::register_all();
        const Type tt = kernels::find_kernel(all, "saxpy")->examples.front();
        const Function& saxpy = Function::named("saxpy");
        kernels::KernelCompiler kc(MethodTable::global(), "bench-entry", filler.get());
        llvm::LLVMContext ctx;
        auto m = kc.build_module(saxpy, tt, spec, ctx);
        spec.kind.target().prepare(*m, "saxpy", spec);
        store::canonicalize(*m);
        key = {store::compile_env(spec), store::canonical_digest(*m)};
        kc.compile(saxpy, tt, spec); // stores it
    }
    ~Entry() { fs::remove_all(dir); }
};

void BM_DiskHit(benchmark::State& state) {
    Entry e;
    std::string why;
    auto disk = store::DiskTier::open({e.dir}, why);
    if (!disk) {
        state.SkipWithError(why.c_str());
        return;
    }
    for (auto _ : state)
        if (!disk->get(e.key))
            state.SkipWithError("no entry");
    state.counters["entry_bytes"] = double(disk->stats().bytes_read) / double(state.iterations());
}
BENCHMARK(BM_DiskHit)->Unit(benchmark::kMicrosecond);

void BM_MemoryStoreHit(benchmark::State& state) {
    Entry e;
    store::MemoryTier memory(std::uint64_t(1) << 30);
    memory.put(e.key, e.filler->tier("memory")->get(e.key));
    for (auto _ : state)
        benchmark::DoNotOptimize(memory.get(e.key));
}
BENCHMARK(BM_MemoryStoreHit);

// The benchmarks' redis-server (tests/store/tiers/redis/test_redis.hpp), started on first use.
test::TestRedis& redis_server() {
    static test::TestRedis server;
    return server;
}

std::unique_ptr<store::Store> redis_store(const store::RedisOptions& options) {
    std::vector<std::unique_ptr<store::Tier>> tiers;
    tiers.push_back(std::make_unique<store::MemoryTier>(std::uint64_t(1) << 30));
    tiers.push_back(std::make_unique<store::RedisTier>(options));
    return std::make_unique<store::Store>(std::move(tiers));
}

void redis_hit(benchmark::State& state, const kernels::KernelInfo& info) {
    store::RedisOptions options;
    try {
        options.servers = {redis_server().address()};
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    const Function& f = Function::named(info.name);
    const Type tt = info.examples.front();
    const TargetSpec spec = bench::spec_for(TargetKind::nvptx());
    {
        auto filled = redis_store(options); // its destructor sends the uploads
        kernels::KernelCompiler kc(MethodTable::global(), "bench-redis-fill", filled.get());
        kc.compile(f, tt, spec);
    }
    std::uint64_t recalls = 0, bytes = 0;
    for (auto _ : state) {
        auto s = redis_store(options); // nothing in memory, a new connection: a new process
        kernels::KernelCompiler kc(MethodTable::global(), "bench-redis", s.get());
        benchmark::DoNotOptimize(kc.compile(f, tt, spec));
        recalls += s->stats().recalls;
        bytes += s->tier("redis")->stats().bytes_read;
    }
    if (recalls != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("Redis did not answer every compile");
    state.counters["recalled"] = double(recalls) / double(state.iterations());
    state.counters["value_bytes"] = double(bytes) / double(state.iterations());
}

// Runs `kcache run --device host` with the store at `dir`; returns its wall time in seconds.
double kcache_run(const fs::path& dir) {
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e)
        if (!std::string_view(*e).starts_with("KCACHE_CACHE"))
            vars.emplace_back(*e);
    vars.push_back("KCACHE_CACHE_DIR=" + dir.string());
    std::vector<char*> envp;
    for (auto& v : vars)
        envp.push_back(v.data());
    envp.push_back(nullptr);
    std::string exe = KCACHE_CLI_PATH, run = "run", device = "--device", host = "host";
    char* argv[] = {exe.data(), run.data(), device.data(), host.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    const auto start = std::chrono::steady_clock::now();
    pid_t pid;
    int status = -1;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv, envp.data()) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&actions);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? seconds : -1;
}

void BM_KcacheRun(benchmark::State& state) {
    const bool second = state.range(0) == 1;
    for (auto _ : state) {
        const fs::path dir = scratch("run");
        if (second && kcache_run(dir) < 0) { // untimed: fills the store
            state.SkipWithError("kcache run failed");
            break;
        }
        const double t = kcache_run(dir);
        fs::remove_all(dir);
        if (t < 0) {
            state.SkipWithError("kcache run failed");
            break;
        }
        state.SetIterationTime(t);
    }
}
BENCHMARK(BM_KcacheRun)
    ->ArgName("second")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    static const auto kernels = kernels::register_all();
    for (const auto& k : kernels) {
        benchmark::RegisterBenchmark(("BM_CanonicalHash/" + k.name).c_str(),
                                     [&k](benchmark::State& s) { canonical_hash(s, k); })
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("BM_RedisHit/" + k.name).c_str(),
                                     [&k](benchmark::State& s) { redis_hit(s, k); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
        for (TargetKind kind : {TargetKind::nvptx(), TargetKind::amdgpu(), TargetKind::host()}) {
            const std::string suffix = k.name + "/" + std::string(to_string(kind));
            benchmark::RegisterBenchmark(
                ("BM_ColdCompile/" + suffix).c_str(),
                [&k, kind](benchmark::State& s) { bench::cold_compile(s, k, kind); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("BM_WarmStart/" + suffix).c_str(),
                [&k, kind](benchmark::State& s) { warm_start(s, k, kind, false); })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("BM_WarmStartByIRHash/" + suffix).c_str(),
                [&k, kind](benchmark::State& s) { warm_start(s, k, kind, true); })
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
        }
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
