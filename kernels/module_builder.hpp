// Builds the one LLVM module a kernel compiles from: the entry's specialisation plus every
// transitive callee's, each emitted once by the front end of its method's source type
// (kernels/front_end.hpp) in a module of its own, which the builder internalises, verifies and
// links in with llvm::Linker. Not yet prepared for a target.
#pragma once

#include "core/function.hpp"
#include "core/method_instance.hpp"
#include "core/method_table.hpp"
#include "core/types.hpp"
#include "targets/target_spec.hpp"

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kcache::kernels {

namespace detail {
class Build;
}

/// How the builder dispatches calls and records what the module depends on: through a
/// CompilationContext in the kernel compiler; through plain dispatch for uncached builds.
/// Thread-safety: used by one build (one thread) at a time.
class Resolver {
public:
    virtual ~Resolver() = default;
    /// The method instance a call of `f` with `tt` runs, or nullptr when no method applies.
    virtual MethodInstance* dispatch(const Function& f, Type tt) = 0;
    /// Records that the module contains `callee`'s specialisation.
    virtual void depend(const MethodInstance& callee) = 0;
    /// The table dispatch goes through (for error messages).
    virtual const MethodTable& table() const = 0;
};

/// Dispatch through `table` in the current world; records nothing. Thread-safety: thread-safe.
class TableResolver final : public Resolver {
public:
    explicit TableResolver(const MethodTable& table) : table_(&table) {}
    MethodInstance* dispatch(const Function& f, Type tt) override;
    void depend(const MethodInstance&) override {}
    const MethodTable& table() const override { return *table_; }

private:
    const MethodTable* table_;
};

/// One build. Thread-safety: not thread-safe; one builder per compilation, on the thread that
/// owns `ctx`.
class ModuleBuilder {
public:
    /// `spec` resolved (its target's address spaces shape the IR).
    ModuleBuilder(llvm::LLVMContext& ctx, Resolver& resolver, TargetSpec spec);
    ~ModuleBuilder();
    ModuleBuilder(const ModuleBuilder&) = delete;
    ModuleBuilder& operator=(const ModuleBuilder&) = delete;

    /// The module with `entry`'s specialisation defined as `kernel_name` and every callee
    /// specialisation it reaches. Throws the front ends' errors (IRParseError,
    /// IRConventionError, GeneratorError, ...), VerifierError, MethodError, KernelTypeError,
    /// SourceTypeError (a method whose source type no registered front end compiles),
    /// LoweringError (link failure).
    std::unique_ptr<llvm::Module> build(const MethodInstance& entry,
                                        const std::string& kernel_name);

    /// The specialisations emitted by build(), entry first.
    std::vector<const MethodInstance*> emitted() const;

private:
    std::unique_ptr<detail::Build> build_;
};

} // namespace kcache::kernels
