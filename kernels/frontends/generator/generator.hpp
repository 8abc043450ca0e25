// Generator methods: a C++ callable that emits the LLVM IR of one specialisation from the concrete
// argument types, e.g. with llvm::IRBuilder. This is how
//   saxpy(a::T, x::Ptr{T}, y::Ptr{T}, n::Int32) where T<:AbstractFloat
// gets one body per T. The generator fills in `ctx.function()` (already declared with the
// lowered argument types and the return type) in `ctx.module()`, a module of its own that the
// kernel compiler links into the kernel's module afterwards. Anything else it defines there is
// private to it (given internal linkage before linking).
//
// Calls of other generic functions go through the context: `ctx.callee(f, tt)` dispatches in the
// compilation's world (through the cache's method table, overlays first), has the callee's
// specialisation emitted into the kernel's module once (recursion allowed), registers the
// dependency (so redefining the callee recompiles this kernel), and returns its declaration in
// ctx.module(). Builtins are plain `kcache.*` declarations (kernels/frontends/generator/emit.hpp
// has helpers).
//
// A generator that throws a kcache::Error propagates it unchanged; anything else it throws
// becomes a GeneratorError naming the method instance. Nothing is cached either way.
//
// The front end (kernels/front_end.hpp) for Generator sources is defined in generator.cpp.
#pragma once

#include "core/method_instance.hpp"
#include "core/method_table.hpp"
#include "core/signature.hpp"
#include "kernels/digest.hpp"
#include "targets/target_spec.hpp"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <initializer_list>
#include <span>
#include <string_view>

namespace kcache::kernels {

class BuildContext;
class FrontEnd;

namespace detail {
class GeneratorSpecialization;
}

/// A value together with its lattice type, for calls through the context.
struct TypedValue {
    Type type;
    llvm::Value* value;
};

/// What a generator sees. Lives only during the generator's call.
/// Thread-safety: use only from the thread running the generator.
class GenContext {
public:
    const MethodInstance& mi() const { return *mi_; }
    /// Values bound to the signature's type variables, in declaration order.
    std::span<const Type> sparams() const { return mi_->sparams(); }
    /// The value bound to the type variable `name`; throws InvalidArgumentError.
    Type sparam(std::string_view name) const { return mi_->sparam(name); }
    /// The concrete type of argument `i`.
    Type arg_type(std::size_t i) const { return mi_->spec_types().elements()[i]; }
    std::size_t num_args() const { return mi_->spec_types().elements().size(); }
    /// The return type (the Generator's, with type variables bound); invalid for void.
    Type return_type() const { return return_type_; }
    /// What the kernel is compiled for. Generators may specialise on it: the cache is sharded
    /// by it, so results never leak between specs.
    const TargetSpec& spec() const;

    llvm::LLVMContext& context() const;
    /// The LLVM address space the target gives `space` (what llvm_type uses for pointers).
    unsigned address_space(AddressSpace space) const;
    /// The module to emit into; the kernel compiler links it into the kernel's module.
    llvm::Module& module() const { return *module_; }
    /// The function to define: its arguments are this specialisation's arguments.
    llvm::Function& function() const { return *function_; }
    /// llvm_type(t) in this context, with the target's address spaces (kernels/type_names.hpp).
    llvm::Type* llvm_type(Type t) const;

    /// The declaration (in module()) of `f`'s specialisation for the concrete tuple `tt`; see
    /// the header comment. Throws MethodError when no method applies.
    llvm::Function* callee(const Function& f, Type tt);
    /// callee(f, Tuple{arg types}) called with the arguments at the builder's insertion point.
    llvm::CallInst* call(llvm::IRBuilder<>& b, const Function& f,
                         std::initializer_list<TypedValue> args);
    llvm::CallInst* call(llvm::IRBuilder<>& b, const Function& f, std::span<const TypedValue> args);

private:
    friend class detail::GeneratorSpecialization;
    GenContext(BuildContext& build, const MethodInstance& mi, llvm::Module& m, llvm::Function& fn,
               Type ret)
        : build_(&build), mi_(&mi), module_(&m), function_(&fn), return_type_(ret) {}

    BuildContext* build_;
    const MethodInstance* mi_;
    llvm::Module* module_;
    llvm::Function* function_;
    Type return_type_;
};

using GeneratorFn = std::function<void(GenContext&)>;

/// The source of a generator method. Thread-safety: immutable once added; `body` is called from
/// any thread compiling a specialisation, possibly several at once, so it must be reentrant.
struct Generator {
    GeneratorFn body;
    /// The return type, possibly holding the signature's type variables (`T`); invalid for void
    /// (kernels return nothing).
    Type returns;
    /// What the generator emits, as its author names it; empty: unversioned.
    std::string version;
    /// Set by add_generator for a versioned generator (kernels/digest.hpp); nullopt otherwise.
    std::optional<Digest> digest;
};

/// Adds a generator method of `f` for `sig` to `table`. Throws InvalidArgumentError for an empty
/// body, InvalidSignatureError when `returns` uses a type variable the signature does not bind.
///
/// `version` names what the body emits: change it whenever the generator's code changes what
/// it emits. It is what a persistent action cache (store/) trusts instead of running the
/// generator: a versioned generator's source digest covers the version, the function, the
/// signature, the return type and the method table, so two generators at version "1" never
/// share a digest, but an edited generator that keeps its version is taken for the old one
/// across processes. An unversioned generator has no source digest, and kernels that reach it
/// are never served from the action cache (the content store still serves them).
Method& add_generator(MethodTable& table, Function& f, Signature sig, GeneratorFn body,
                      Type returns = Type(), std::string version = {});

/// The front end of Generator sources (registered by register_builtin_front_ends).
std::unique_ptr<FrontEnd> make_generator_front_end();

} // namespace kcache::kernels
