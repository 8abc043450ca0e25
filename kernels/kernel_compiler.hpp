// The kernel compiler: kernel entry method instance + TargetSpec -> Artifact, cached per
// (method instance, spec) in a CompilerCache sharded by TargetSpec and invalidated when the
// kernel or any callee it linked in is redefined.
//
//   build     entry and every transitive callee specialisation into one module (ModuleBuilder)
//   prepare   Target::prepare: entry marked as the kernel, everything else internal, builtins
//   -- seam --  ArtifactStore::probe(prepared module): a stored artifact ends the compile here
//   optimize  Target::optimize at spec.opt_level
//   emit      Target::emit -> Artifact
#pragma once

#include "core/compiler_cache.hpp"
#include "core/function.hpp"
#include "core/method_table.hpp"
#include "core/types.hpp"
#include "targets/artifact.hpp"
#include "targets/target_spec.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kcache::kernels {

using ArtifactPtr = std::shared_ptr<const Artifact>;
using KernelCache = CompilerCache<ArtifactPtr, TargetSpec>;

/// What a compilation is about, for the seam below.
struct CompileInfo {
    const MethodInstance* mi;
    TargetSpec spec; ///< resolved: arch filled in
    std::string kernel_symbol;
};

/// The seam between "linked and prepared module" and "optimise": a later layer hashes the
/// prepared (canonical) IR here and may answer with a stored artifact.
/// Thread-safety: implementations must be thread-safe; probe runs concurrently for different
/// compilations.
class ArtifactStore {
public:
    struct Probe {
        /// A stored artifact: optimisation and emission are skipped and this is the result.
        ArtifactPtr hit;
        /// On a miss, called with the emitted artifact (e.g. to store it under the hash).
        std::function<void(const ArtifactPtr&)> on_emitted;
    };
    virtual ~ArtifactStore() = default;
    /// Called once per compilation with the prepared module (it must not be modified).
    virtual Probe probe(const llvm::Module& prepared, const CompileInfo& info) = 0;
};

/// Cumulative times and counts of compilations that ran (cache hits cost nothing here).
struct KernelCompilerStats {
    std::uint64_t compilations = 0;       ///< builds started
    std::uint64_t store_hits = 0;         ///< ended at the seam with a stored artifact
    std::chrono::nanoseconds build{0};    ///< IR generation: methods emitted, parsed, linked
    std::chrono::nanoseconds prepare{0};  ///< Target::prepare
    std::chrono::nanoseconds optimize{0}; ///< Target::optimize
    std::chrono::nanoseconds emit{0};     ///< code generation and final link
};

/// Thread-safety: thread-safe; any number of threads may compile at once (each compilation has
/// its own LLVMContext; the cache makes concurrent misses on one entry compile once). The cache
/// (injected or owned) and the store must outlive the compiler.
class KernelCompiler {
public:
    /// Owns a cache called `tag` over `table`.
    explicit KernelCompiler(MethodTable& table = MethodTable::global(),
                            std::string tag = "kcache.kernels", ArtifactStore* store = nullptr);
    /// Uses `cache` (its method table is the one dispatch goes through).
    explicit KernelCompiler(KernelCache& cache, ArtifactStore* store = nullptr);
    ~KernelCompiler();
    KernelCompiler(const KernelCompiler&) = delete;
    KernelCompiler& operator=(const KernelCompiler&) = delete;

    KernelCache& cache() const { return *cache_; }
    MethodTable& method_table() const { return cache_->method_table(); }

    /// The arch filled in and the spec checked: UnknownArchError lists the supported archs,
    /// InvalidArgumentError for an opt level outside 0..3.
    static TargetSpec resolve(const TargetSpec& spec);

    /// The artifact of kernel `f` for the concrete argument types `tt` (a Tuple type) on `spec`:
    /// cached, or compiled and cached. Throws MethodError when no method applies, and the
    /// errors of building (kernels/module_builder.hpp) and lowering (targets/target_errors.hpp);
    /// nothing is cached when it throws.
    ArtifactPtr compile(const Function& f, Type tt, const TargetSpec& spec);

    /// The cached artifact, if any, without compiling (spec resolved first).
    ArtifactPtr lookup(const Function& f, Type tt, const TargetSpec& spec) const;

    /// The linked module for (f, tt), built outside the cache in the current world, in `ctx`
    /// (prepare it with target_for(spec.kind).prepare). For tools and benchmarks.
    std::unique_ptr<llvm::Module> build_module(const Function& f, Type tt, const TargetSpec& spec,
                                               llvm::LLVMContext& ctx) const;

    KernelCompilerStats stats() const;

private:
    ArtifactPtr
    compile_mi(const MethodInstance& mi, const TargetSpec& spec,
               const std::function<std::unique_ptr<llvm::Module>(llvm::LLVMContext&)>& build);

    std::unique_ptr<KernelCache> owned_;
    KernelCache* cache_;
    ArtifactStore* store_;
    std::atomic<std::uint64_t> compilations_{0}, store_hits_{0};
    std::atomic<std::int64_t> build_ns_{0}, prepare_ns_{0}, optimize_ns_{0}, emit_ns_{0};
};

} // namespace kcache::kernels
