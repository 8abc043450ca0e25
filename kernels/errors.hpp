// Typed errors of the kernel front end (IR methods, generator methods, the kernel compiler).
// Each names what was being compiled: the method instance, the IR symbol, the IR line.
// Thread-safety: immutable after construction, like every kcache::Error.
#pragma once

#include "core/errors.hpp"
#include "core/excerpt.hpp"

#include <exception>
#include <string>

namespace kcache::kernels {

/// An LLVM IR method that breaks the IR-method convention (kernels/frontends/ir/ir_method.hpp): a
/// declaration without `!kcache.types`, types that do not match the LLVM parameters, a declaration
/// naming no generic function, an entry function that is missing or has the wrong parameter types.
class IRConventionError : public Error {
public:
    IRConventionError(const std::string& what, std::string method, std::string symbol, int line)
        : Error(what + " [method " + method + (symbol.empty() ? "" : ", @" + excerpt(symbol)) +
                (line > 0 ? ", line " + std::to_string(line) : "") + "]"),
          method_(std::move(method)), symbol_(std::move(symbol)), line_(line) {}
    /// The method instance whose IR broke the convention, e.g. "k(::Ptr{Float32})".
    const std::string& method() const { return method_; }
    /// The IR symbol concerned (without '@'); empty when it concerns the whole module.
    const std::string& symbol() const { return symbol_; }
    /// 1-based line of the symbol's declaration or definition in textual IR; 0 when unknown
    /// (bitcode, or a symbol the text does not spell out).
    int line() const { return line_; }

private:
    std::string method_;
    std::string symbol_;
    int line_;
};

/// A generator method threw something that is not a kcache::Error (those propagate unchanged,
/// since they already carry their context). The original exception is kept as `nested()`.
class GeneratorError : public Error {
public:
    GeneratorError(const std::string& method, const std::string& what, std::exception_ptr nested)
        : Error("generator of " + method + " failed: " + what), method_(method),
          nested_(std::move(nested)) {}
    const std::string& method() const { return method_; }
    std::exception_ptr nested() const { return nested_; }

private:
    std::string method_;
    std::exception_ptr nested_;
};

/// A lattice type that kernels cannot pass or compute with (a user type without an LLVM
/// representation, a tuple, ...), or a type name that does not parse.
class KernelTypeError : public Error {
public:
    using Error::Error;
};

} // namespace kcache::kernels
