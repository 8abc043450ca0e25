// Warming the store: kernels x specs (target, arch, opt level) compiled ahead of their first
// launch, by a number of jobs in parallel. The engine of `kcache warm`, and what its benchmark
// (bench/warm_bench.cpp) runs.
//
// Jobs are threads sharing one KernelCompiler: each compilation has its own LLVMContext, and
// nothing in the compiler, the store or nvJitLink serialises them (lld, which links AMDGPU code
// objects, takes a process-wide lock for its short final link).
// Thread-safety: warm() is thread-safe; the plan is an immutable value.
#pragma once

#include "core/function.hpp"
#include "core/types.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "targets/target_spec.hpp"

#include <chrono>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace kcache::cli {

struct WarmItem {
    const Function* function;
    Type tt;
    TargetSpec spec;   ///< resolved
    std::string label; ///< "saxpy(Float32,...) nvptx:sm_80:O2"
};

struct WarmFailure {
    std::string label;
    std::string error;
};

struct WarmResult {
    std::size_t done = 0;
    std::vector<WarmFailure> failures; ///< in plan order
    std::chrono::nanoseconds wall{0};
};

/// "nvptx:sm_80,sm_90", "amdgpu:gfx90a", "host": a registered target and its archs (none: its
/// default), each at every level of `opt_levels`; resolved. Throws InvalidArgumentError for an
/// unknown target, UnknownArchError for an unknown arch.
std::vector<TargetSpec> parse_warm_targets(std::span<const std::string> items,
                                           std::span<const int> opt_levels);

/// Every example specialisation of each kernel (kernels::KernelInfo::examples) on every spec.
std::vector<WarmItem> warm_plan(std::span<const kernels::KernelInfo> kernels,
                                std::span<const TargetSpec> specs);

/// Compiles every item with `jobs` threads (at least one); `done` is called after each, from
/// the thread that compiled it. A failed item is recorded and the others go on.
WarmResult warm(kernels::KernelCompiler& compiler, std::span<const WarmItem> plan, unsigned jobs,
                const std::function<void(const WarmItem&)>& done = {});

} // namespace kcache::cli
