// The kernel compiler: kernel entry method instance + TargetSpec -> Artifact, cached per
// (method instance, spec) in a CompilerCache sharded by TargetSpec and invalidated when the
// kernel or any callee it linked in is redefined.
//
//   -- seam --  ArtifactStore::recall: an artifact recorded for this compilation ends it here,
//               once the store has redone the build's dispatches through the compilation
//   build     entry and every transitive callee specialisation into one module (ModuleBuilder)
//   prepare   Target::prepare: entry marked as the kernel, everything else internal, builtins
//   -- seam --  ArtifactStore::probe(prepared module): a stored artifact ends the compile here
//   optimize  Target::optimize at spec.opt_level
//   emit      Target::emit -> Artifact, handed to the store's Pending::publish
#pragma once

#include "core/compiler_cache.hpp"
#include "core/function.hpp"
#include "core/method_table.hpp"
#include "core/types.hpp"
#include "kernels/module_builder.hpp"
#include "targets/artifact.hpp"
#include "targets/target_spec.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kcache::kernels {

using ArtifactPtr = std::shared_ptr<const Artifact>;
using KernelCache = CompilerCache<ArtifactPtr, TargetSpec>;

/// What a compilation is about, for the seams below.
struct CompileInfo {
    const MethodInstance* mi;
    TargetSpec spec; ///< resolved: arch filled in
    std::string kernel_symbol;
    const MethodTable* table; ///< the table the compilation dispatches through
};

/// One dispatch a build made: a call of `function` with the argument types `tt` runs `chosen`.
struct Dispatch {
    const Function* function;
    Type tt;
    const MethodInstance* chosen;
};

/// The seams where a store of compiled code plugs in (store/ is the one kcache has): recall
/// before the build, probe between the prepared module and optimisation.
/// Thread-safety: implementations must be thread-safe; recall and probe run concurrently for
/// different compilations. Neither may throw: a store that fails answers "not stored".
class ArtifactStore {
public:
    /// A compilation that goes on past probe. Destroyed when the compilation ends, whether or
    /// not it reached publish (an error in optimisation or emission): the destructor releases
    /// whatever probe held for it (e.g. a lock that keeps other processes from compiling it too).
    class Pending {
    public:
        virtual ~Pending() = default;
        /// Stores the emitted artifact and returns the one the compilation returns: `emitted`,
        /// or an equal artifact already stored (so identical code is one shared object).
        virtual ArtifactPtr publish(ArtifactPtr emitted) = 0;
    };
    struct Probe {
        /// A stored artifact: optimisation and emission are skipped and this is the result.
        ArtifactPtr hit;
        /// On a miss, where the emitted artifact goes (may be null: nothing to store).
        std::unique_ptr<Pending> pending;
    };
    virtual ~ArtifactStore() = default;

    /// Called once per compilation before anything is built. An artifact recorded for the same
    /// entry source, argument types, spec and toolchain may be returned only if every dispatch
    /// its build made is redone through `resolver` (the compilation's context: its world and
    /// method table) and chooses the same method, and each method instance so chosen has been
    /// registered with resolver.depend(), exactly as the build would have. nullptr: build it.
    virtual ArtifactPtr recall(const CompileInfo& info, Resolver& resolver) = 0;

    /// Called once per compilation with the prepared module and the dispatches its build made.
    /// The store may rewrite `prepared` into an equivalent canonical form, renaming the kernel
    /// (the artifact's kernel_symbol then says what it is called).
    virtual Probe probe(llvm::Module& prepared, const CompileInfo& info,
                        std::span<const Dispatch> dispatches) = 0;
};

/// Cumulative times and counts of compilations that ran (cache hits cost nothing here).
struct KernelCompilerStats {
    std::uint64_t compilations = 0;       ///< cache misses compiled (including store hits)
    std::uint64_t recalls = 0;            ///< ended before the build: recalled by the store
    std::uint64_t store_hits = 0;         ///< ended at the probe seam with a stored artifact
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

    /// The artifact of kernel `f` for the concrete argument types `tt` (a Tuple type) on `spec`:
    /// cached, or compiled and cached. `spec` is resolved by its target first (Target::resolve:
    /// UnknownArchError lists the supported archs). Throws MethodError when no method applies,
    /// and the errors of building (kernels/module_builder.hpp) and lowering
    /// (targets/target_errors.hpp); nothing is cached when it throws.
    ArtifactPtr compile(const Function& f, Type tt, const TargetSpec& spec);

    /// The cached artifact, if any, without compiling (spec resolved first).
    ArtifactPtr lookup(const Function& f, Type tt, const TargetSpec& spec) const;

    /// The linked module for (f, tt), built outside the cache in the current world, in `ctx`
    /// (prepare it with spec.kind.target().prepare). For tools and benchmarks.
    std::unique_ptr<llvm::Module> build_module(const Function& f, Type tt, const TargetSpec& spec,
                                               llvm::LLVMContext& ctx) const;

    KernelCompilerStats stats() const;

private:
    ArtifactPtr compile_mi(const MethodInstance& mi, const TargetSpec& spec, Resolver& resolver);

    std::unique_ptr<KernelCache> owned_;
    KernelCache* cache_;
    ArtifactStore* store_;
    std::atomic<std::uint64_t> compilations_{0}, recalls_{0}, store_hits_{0};
    std::atomic<std::int64_t> build_ns_{0}, prepare_ns_{0}, optimize_ns_{0}, emit_ns_{0};
};

} // namespace kcache::kernels
