// Core benchmarks (issue 2). Run: ./build/bench/kcache_bench_core --benchmark_format=json
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/cache_handle.hpp"
#include "core/compiler_cache.hpp"
#include "core/type_of.hpp"

namespace {

using namespace kcache;

struct ShardKey {
    int arch;
    int opt_level;
    bool operator==(const ShardKey&) const = default;
};
struct ShardKeyHash {
    std::size_t operator()(const ShardKey& k) const noexcept {
        return static_cast<std::size_t>(k.arch) * 8 + static_cast<std::size_t>(k.opt_level);
    }
};

struct Kernel {
    const void* entry;
};

std::string unique(const std::string& base) {
    static int counter = 0;
    return base + "_" + std::to_string(counter++);
}

// A cache hit with a sharding key and the argument types given (what a launch path does).
void BM_CachedCompilationHit(benchmark::State& state) {
    Function& f = Function::define(unique("bench_hit"));
    Type T = Type::type_var("T", types::AbstractFloat());
    add_method(f, Signature({T, types::Ptr(T), types::Ptr(T), types::Int32()}, {T}), 0);
    CompilerCache<Kernel, ShardKey, ShardKeyHash> cache("BenchHit");
    const Type tt = tt_of<float, float*, float*, int>();
    const ShardKey key{90, 3};
    auto compile = [](auto&) { return Kernel{nullptr}; };
    benchmark::DoNotOptimize(cached_compilation(cache, f, tt, key, compile));
    for (auto _ : state)
        benchmark::DoNotOptimize(cached_compilation(cache, f, tt, key, compile));
    state.counters["hits"] = static_cast<double>(cache.stats().hits);
}
BENCHMARK(BM_CachedCompilationHit);

// The same hit through a handle on (f, tt, key): a world check instead of a hash probe.
void BM_HandleHit(benchmark::State& state) {
    Function& f = Function::define(unique("bench_handle_hit"));
    Type T = Type::type_var("T", types::AbstractFloat());
    add_method(f, Signature({T, types::Ptr(T), types::Ptr(T), types::Int32()}, {T}), 0);
    CompilerCache<Kernel, ShardKey, ShardKeyHash> cache("BenchHandleHit");
    const auto handle = cache.handle(f, tt_of<float, float*, float*, int>(), ShardKey{90, 3});
    auto compile = [](auto&) { return Kernel{nullptr}; };
    benchmark::DoNotOptimize(handle.get(compile));
    for (auto _ : state)
        benchmark::DoNotOptimize(handle.get(compile));
    state.counters["hits"] = static_cast<double>(cache.stats().hits);
}
BENCHMARK(BM_HandleHit);

// Hit throughput from several threads on one shared entry.
void BM_CachedCompilationHitThreaded(benchmark::State& state) {
    static Function& f = Function::define("bench_hit_threaded");
    static CompilerCache<Kernel, ShardKey, ShardKeyHash>* cache = [] {
        add_method(f, Signature{types::Float32(), types::Ptr(types::Float32())}, 0);
        return new CompilerCache<Kernel, ShardKey, ShardKeyHash>("BenchHitThreaded");
    }();
    const Type tt = tt_of<float, float*>();
    const ShardKey key{80, 2};
    auto compile = [](auto&) { return Kernel{nullptr}; };
    for (auto _ : state)
        benchmark::DoNotOptimize(cached_compilation(*cache, f, tt, key, compile));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CachedCompilationHitThreaded)->Threads(1)->Threads(2)->UseRealTime();

// Dispatch among M methods with distinct concrete argument types; the call matches the last.
struct Methods {
    Function* f;
    Type last;
};
Methods make_methods(int m) {
    Function& f = Function::define(unique("bench_dispatch"));
    Type abstract = Type::abstract_type(unique("BenchAbstract"), types::Any());
    Type last;
    for (int i = 0; i < m; ++i) {
        last = Type::concrete_type(unique("BenchConcrete"), abstract, 8);
        add_method(f, Signature{last, types::Int32()}, i);
    }
    add_method(f, Signature{abstract, types::Int32()}, -1);
    return {&f, last};
}

void BM_MethodInstanceLookup(benchmark::State& state) {
    Methods m = make_methods(static_cast<int>(state.range(0)));
    const Type tt = Type::tuple({m.last, types::Int32()});
    for (auto _ : state)
        benchmark::DoNotOptimize(method_instance(*m.f, tt));
}
BENCHMARK(BM_MethodInstanceLookup)->Arg(1)->Arg(10)->Arg(100);

// The same dispatch in an older world, which bypasses the per-table dispatch cache: the cost
// of the method scan and specificity ordering itself.
void BM_MethodInstanceLookupUncached(benchmark::State& state) {
    Methods m = make_methods(static_cast<int>(state.range(0)));
    const Type tt = Type::tuple({m.last, types::Int32()});
    const std::uint64_t world = current_world();
    add_method(Function::define(unique("bench_world_bump")), Signature{types::Int8()}, 0);
    for (auto _ : state)
        benchmark::DoNotOptimize(method_instance(*m.f, tt, MethodTable::global(), world));
}
BENCHMARK(BM_MethodInstanceLookupUncached)->Arg(1)->Arg(10)->Arg(100);

// Redefine the leaf of a chain of 10 dependents while the cache holds N unrelated entries.
struct ChainIR {
    Function* callee;
};
void BM_InvalidateChain(benchmark::State& state) {
    const auto n = static_cast<int>(state.range(0));
    CompilerCache<long, int> cache("BenchInvalidate");
    auto compile = [](auto& ctx) -> long {
        const ChainIR& ir = ctx.mi().def().template source<ChainIR>();
        return ir.callee ? 1 + ctx.compile(*ir.callee, ctx.mi().spec_types()) : 0;
    };
    const Type tt = tt_of<std::int64_t>();
    Function& filler = Function::define(unique("bench_filler"));
    add_method(filler, Signature{types::Int64()}, ChainIR{nullptr});
    for (int i = 0; i < n; ++i)
        cached_compilation(cache, filler, tt, i, compile);

    Function& leaf = Function::define(unique("bench_leaf"));
    add_method(leaf, Signature{types::Int64()}, ChainIR{nullptr});
    Function* prev = &leaf;
    for (int i = 0; i < 10; ++i) {
        Function& next = Function::define(unique("bench_chain"));
        add_method(next, Signature{types::Int64()}, ChainIR{prev});
        prev = &next;
    }
    Function& top = *prev;
    std::uint64_t invalidated_before = 0;
    for (auto _ : state) {
        state.PauseTiming();
        if (cached_compilation(cache, top, tt, 0, compile) != 10)
            state.SkipWithError("chain compiled wrong");
        invalidated_before = cache.stats().invalidations;
        state.ResumeTiming();
        add_method(leaf, Signature{types::Int64()}, ChainIR{nullptr});
    }
    state.counters["invalidated_per_redefinition"] =
        static_cast<double>(cache.stats().invalidations - invalidated_before);
    state.counters["entries"] = static_cast<double>(cache.stats().entries);
}
BENCHMARK(BM_InvalidateChain)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
