// Kernel front ends: what turns a method's source into the LLVM IR of one specialisation, one
// front end per C++ source type (core's Method holds any source), like ORC's MaterializationUnit
// per kind of definition. The module builder (kernels/module_builder.hpp) finds the front end
// of each method it reaches by the method's source type, asks it for the specialisation's
// function type first (callers declare it), then for its module, and links what it gets.
//
// Built in: LLVM IR methods (kernels/frontends/ir/ir_method.hpp) and generator methods
// (kernels/frontends/generator/generator.hpp). Adding a front end is one file pair, a FrontEnd and
// its Specialization, plus one FrontEndRegistry::add call before the first compilation that needs
// it (docs/ARCHITECTURE.md).
#pragma once

#include "core/method.hpp"
#include "core/method_instance.hpp"
#include "kernels/digest.hpp"
#include "targets/llvm/isolated_context.hpp"
#include "targets/target_spec.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <typeindex>

namespace llvm {
class FunctionType;
class LLVMContext;
class Module;
class Type;
} // namespace llvm

namespace kcache {
class Function;
class Target;
} // namespace kcache

namespace kcache::kernels {

/// A callee's specialisation in the kernel's module: call it as `symbol` with `type`.
struct Callee {
    const MethodInstance* mi = nullptr;
    std::string symbol;
    llvm::FunctionType* type = nullptr;
};

/// What a front end sees of the build it contributes to (implemented by the module builder).
/// Thread-safety: one build, on one thread.
class BuildContext {
public:
    virtual llvm::LLVMContext& llvm_context() const = 0;
    /// What the kernel is compiled for (resolved). The cache is sharded by it.
    virtual const TargetSpec& spec() const = 0;
    /// The target of spec(): its address spaces, and what it cannot take (Target::unsupported).
    virtual const Target& target() const = 0;
    /// A call of `f` with the concrete argument types `tt` from `caller`'s specialisation:
    /// dispatched in the compilation's world through its method table, recorded as a dependency
    /// (redefining the callee recompiles the kernel), and the callee's specialisation emitted
    /// into the module once (recursion allowed). Throws MethodError or ArityError naming
    /// `caller` when no method applies.
    virtual Callee call(const Function& f, Type tt, const MethodInstance& caller) = 0;

    /// The LLVM type of lattice type `t` under the target's address spaces (kernels::llvm_type).
    llvm::Type* llvm_type(Type t) const;

protected:
    ~BuildContext() = default;
};

/// One specialisation, between the moment its type is known and the moment it is emitted.
/// Thread-safety: used by its build only.
class Specialization {
public:
    virtual ~Specialization() = default;
    /// The LLVM function type callers declare it with.
    virtual llvm::FunctionType* type() const = 0;
    /// A module of its own, in ctx.llvm_context(), that defines `symbol` with type(). Generic
    /// calls go through ctx.call and are declared in the module under the callee's symbol.
    /// The module builder then gives everything but `symbol` internal linkage, verifies the
    /// module and links it into the kernel's. Called once.
    virtual ModulePtr emit(BuildContext& ctx, const std::string& symbol) = 0;
};

/// Thread-safety: implementations are immutable once registered; any number of builds use them
/// at once.
class FrontEnd {
public:
    virtual ~FrontEnd() = default;
    /// The C++ type of the sources it compiles (Method::source_type()).
    virtual std::type_index source_type() const = 0;
    /// What it is called in messages: "LLVM IR", "generator".
    virtual std::string_view name() const = 0;
    /// The source digest of `method` (a method of source_type()): what the store's action cache
    /// trusts instead of building (kernels/digest.hpp). nullptr when the source has none: kernels
    /// reaching it are never recalled, only found by the hash of their IR.
    virtual const Digest* source_digest(const Method& method) const = 0;
    /// Starts the specialisation `mi` of a method of source_type(): reads what it needs to give
    /// its function type. Throws the front end's errors (they name `mi`).
    virtual std::unique_ptr<Specialization> specialize(const MethodInstance& mi,
                                                       BuildContext& ctx) const = 0;
};

/// The front ends, by source type. The built-ins are registered by register_builtin_front_ends,
/// which the registry calls on its first use.
/// Thread-safety: thread-safe; front ends are never removed.
class FrontEndRegistry {
public:
    /// Throws InvalidArgumentError for a null front end or a source type already taken.
    static void add(std::unique_ptr<FrontEnd> front_end);
    /// The front end of `source_type`; nullptr when none is registered.
    static const FrontEnd* find(std::type_index source_type);
    /// "LLVM IR, generator, ...": for messages.
    static std::string names();
};

/// Registers the built-in front ends (the folders of kernels/frontends/: LLVM IR, generator).
/// Idempotent.
void register_builtin_front_ends();

namespace detail {
/// Verifies the module of `mi`'s specialisation `symbol` in a recovery region: VerifierError
/// naming both, LoweringCrashError when LLVM crashes.
void verify_method(llvm::Module& m, const MethodInstance& mi, const std::string& symbol,
                   const TargetSpec& spec);
} // namespace detail

} // namespace kcache::kernels
