// A method signature: argument-type patterns and the type variables they bind, e.g.
//   saxpy(a::T, x::Ptr{T}, y::Ptr{T}, n::Int32) where T<:AbstractFloat
// Matching binds type variables (Julia's static parameters); specificity orders methods for
// dispatch.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace kcache {

/// Thread-safety: immutable after construction; all const operations are thread-safe.
class Signature {
public:
    /// Throws InvalidSignatureError when a declared type variable does not occur in `params`
    /// (it could never bind), when `params` use an undeclared one, or when an entry of
    /// `type_vars` is not a type variable.
    Signature(std::vector<Type> params, std::vector<Type> type_vars = {});
    Signature(std::initializer_list<Type> params, std::initializer_list<Type> type_vars = {})
        : Signature(std::vector<Type>(params), std::vector<Type>(type_vars)) {}

    std::span<const Type> params() const { return params_; }
    std::span<const Type> type_vars() const { return type_vars_; }
    std::size_t arity() const { return params_.size(); }

    /// Matches a concrete argument-type tuple. On success, the values bound to `type_vars()`
    /// (in that order); otherwise nullopt.
    std::optional<std::vector<Type>> match(Type tt) const;
    bool matches(Type tt) const;

    /// Every argument list this signature accepts, `other` accepts too.
    bool is_subsignature_of(const Signature& other) const;
    /// Strictly more specific: a subsignature of `other` and not the reverse.
    bool more_specific_than(const Signature& other) const;
    /// Accepts exactly the same argument lists (then adding it redefines the method).
    bool equivalent(const Signature& other) const;

    /// "f(::T, ::Ptr{T}, ::Int32) where T<:AbstractFloat".
    std::string str(std::string_view function_name) const;

private:
    std::vector<Type> params_;
    std::vector<Type> type_vars_;
    std::vector<bool> diagonal_; // per type var: occurs only covariantly, twice or more
};

} // namespace kcache
