// BM_ColdCompile, shared by the benchmark programs that compare against it in the same run
// (kcache_bench_targets, kcache_bench_store): one kernel compiled from scratch for one target.
#pragma once

#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

namespace kcache::bench {

inline constexpr int kOptLevel = 2;

/// The spec each target is benchmarked at: sm_80, gfx90a, this CPU; -O2.
inline TargetSpec spec_for(TargetKind kind) {
    if (kind == TargetKind::nvptx())
        return {kind, "sm_80", kOptLevel};
    if (kind == TargetKind::amdgpu())
        return {kind, "gfx90a", kOptLevel};
    return {kind, "", kOptLevel};
}

/// BM_ColdCompile/<kernel>/<target>: a fresh cache and no store each iteration, so every compile
/// builds, prepares, optimises and emits; the split is reported in ms per iteration.
inline void cold_compile(benchmark::State& state, const kernels::KernelInfo& info,
                         TargetKind kind) {
    const Function& f = Function::named(info.name);
    const Type tt = info.examples.front();
    const TargetSpec spec = spec_for(kind);
    kernels::KernelCompilerStats total;
    std::int64_t iterations = 0;
    for (auto _ : state) {
        kernels::KernelCompiler kc(MethodTable::global(), "bench"); // fresh cache: always cold
        benchmark::DoNotOptimize(kc.compile(f, tt, spec));
        auto s = kc.stats();
        total.build += s.build;
        total.prepare += s.prepare;
        total.optimize += s.optimize;
        total.emit += s.emit;
        ++iterations;
    }
    auto ms = [&](std::chrono::nanoseconds t) {
        return iterations ? double(t.count()) / 1e6 / double(iterations) : 0.0;
    };
    state.counters["ir_gen_ms"] = ms(total.build + total.prepare);
    state.counters["opt_ms"] = ms(total.optimize);
    state.counters["codegen_ms"] = ms(total.emit);
}

} // namespace kcache::bench
