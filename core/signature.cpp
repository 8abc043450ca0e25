#include "core/signature.hpp"

#include <algorithm>

#include "core/errors.hpp"

namespace kcache {

namespace {

// Counts a type variable's occurrences: covariant (a whole argument) and invariant (inside Ptr).
void count_occurrences(Type t, bool invariant, const std::vector<Type>& vars,
                       std::vector<int>& covariant, std::vector<int>& invariant_count,
                       std::vector<Type>& undeclared) {
    switch (t.kind()) {
    case TypeKind::TypeVar: {
        auto it = std::find(vars.begin(), vars.end(), t);
        if (it == vars.end()) {
            undeclared.push_back(t);
            return;
        }
        auto i = static_cast<std::size_t>(it - vars.begin());
        (invariant ? invariant_count : covariant)[i]++;
        return;
    }
    case TypeKind::Pointer:
        count_occurrences(t.element(), true, vars, covariant, invariant_count, undeclared);
        return;
    default:
        return;
    }
}

std::string bound_str(Type var) {
    Type ub = var.supertype();
    std::string s(var.name());
    if (ub != types::Any())
        s += "<:" + ub.str();
    return s;
}

} // namespace

Signature::Signature(std::vector<Type> params, std::vector<Type> type_vars)
    : params_(std::move(params)), type_vars_(std::move(type_vars)) {
    for (Type v : type_vars_) {
        if (!v || v.kind() != TypeKind::TypeVar)
            throw InvalidSignatureError("where-clause entry '" + (v ? v.str() : "<null>") +
                                        "' is not a type variable");
    }
    for (std::size_t i = 0; i < type_vars_.size(); ++i)
        for (std::size_t j = i + 1; j < type_vars_.size(); ++j)
            if (type_vars_[i] == type_vars_[j])
                throw InvalidSignatureError("type variable '" + std::string(type_vars_[i].name()) +
                                            "' is declared twice");
    std::vector<int> cov(type_vars_.size()), inv(type_vars_.size());
    std::vector<Type> undeclared;
    for (Type p : params_) {
        if (!p)
            throw InvalidSignatureError("signature parameter is a null Type");
        if (p.kind() == TypeKind::Tuple && p.has_type_vars())
            throw InvalidSignatureError("type variables inside a Tuple parameter are not "
                                        "supported: " +
                                        p.str());
        count_occurrences(p, false, type_vars_, cov, inv, undeclared);
    }
    if (!undeclared.empty())
        throw InvalidSignatureError("type variable '" + std::string(undeclared[0].name()) +
                                    "' is used in " + str("") +
                                    " but not declared in its "
                                    "where-clause");
    diagonal_.resize(type_vars_.size());
    for (std::size_t i = 0; i < type_vars_.size(); ++i) {
        if (cov[i] + inv[i] == 0)
            throw InvalidSignatureError("type variable '" + bound_str(type_vars_[i]) +
                                        "' does not occur in the arguments of " + str("") +
                                        ", so it can never bind");
        // Julia's diagonal rule: a variable seen only as whole arguments, twice or more, must
        // bind to one concrete type.
        diagonal_[i] = cov[i] >= 2 && inv[i] == 0;
    }
}

namespace {

/// Binds `pattern`'s type variables (those of signature `b`) so that `pattern` describes `a`.
/// `a` holds either concrete types or the type variables of another signature `a_sig`, which
/// stand for any type under their bound (or one concrete type, when diagonal in `a_sig`).
class Binder {
public:
    Binder(std::span<const Type> b_vars, const std::vector<bool>& b_diagonal,
           std::span<const Type> a_vars, const std::vector<bool>* a_diagonal)
        : b_vars_(b_vars), b_diagonal_(b_diagonal), a_vars_(a_vars), a_diagonal_(a_diagonal),
          env_(b_vars.size()) {}

    // Pass 1: positions inside pointers fix variables exactly (invariance).
    bool bind_invariant(Type a, Type pattern) {
        if (pattern.kind() == TypeKind::TypeVar) {
            int i = b_index(pattern);
            if (env_[i])
                return env_[i] == a;
            if (!issubtype(a, pattern.supertype()))
                return false;
            env_[i] = a;
            return true;
        }
        if (pattern.kind() == TypeKind::Pointer) {
            return a.kind() == TypeKind::Pointer && a.address_space() == pattern.address_space() &&
                   bind_invariant(a.element(), pattern.element());
        }
        return a == pattern;
    }

    // Pass 2: whole-argument positions (covariance).
    bool bind_covariant(Type a, Type pattern) {
        if (pattern.kind() == TypeKind::TypeVar) {
            int i = b_index(pattern);
            if (env_[i])
                return b_diagonal_[i] ? env_[i] == a : issubtype(a, env_[i]);
            if (b_diagonal_[i] && !concrete_like(a))
                return false;
            if (!issubtype(a, pattern.supertype()))
                return false;
            env_[i] = a;
            return true;
        }
        return issubtype(a, pattern);
    }

    bool bind(std::span<const Type> a, std::span<const Type> patterns) {
        if (a.size() != patterns.size())
            return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (patterns[i].kind() == TypeKind::Pointer && !bind_invariant(a[i], patterns[i]))
                return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (patterns[i].kind() != TypeKind::Pointer && !bind_covariant(a[i], patterns[i]))
                return false;
        return true;
    }

    std::vector<Type> take() { return std::move(env_); }

private:
    int b_index(Type v) const {
        for (std::size_t i = 0; i < b_vars_.size(); ++i)
            if (b_vars_[i] == v)
                return static_cast<int>(i);
        return -1; // unreachable: the constructor rejects undeclared variables
    }
    bool concrete_like(Type a) const {
        if (a.is_concrete())
            return true;
        if (a.kind() == TypeKind::TypeVar && a_diagonal_) {
            for (std::size_t i = 0; i < a_vars_.size(); ++i)
                if (a_vars_[i] == a)
                    return (*a_diagonal_)[i];
        }
        return false;
    }

    std::span<const Type> b_vars_;
    const std::vector<bool>& b_diagonal_;
    std::span<const Type> a_vars_;
    const std::vector<bool>* a_diagonal_;
    std::vector<Type> env_;
};

} // namespace

std::optional<std::vector<Type>> Signature::match(Type tt) const {
    if (!tt || tt.kind() != TypeKind::Tuple)
        return std::nullopt;
    Binder binder(type_vars_, diagonal_, {}, nullptr);
    if (!binder.bind(tt.elements(), params_))
        return std::nullopt;
    return binder.take();
}

bool Signature::matches(Type tt) const {
    if (!tt || tt.kind() != TypeKind::Tuple)
        return false;
    Binder binder(type_vars_, diagonal_, {}, nullptr);
    return binder.bind(tt.elements(), params_);
}

bool Signature::is_subsignature_of(const Signature& other) const {
    Binder binder(other.type_vars_, other.diagonal_, type_vars_, &diagonal_);
    return binder.bind(params_, other.params_);
}

bool Signature::more_specific_than(const Signature& other) const {
    return is_subsignature_of(other) && !other.is_subsignature_of(*this);
}

bool Signature::equivalent(const Signature& other) const {
    return is_subsignature_of(other) && other.is_subsignature_of(*this);
}

std::string Signature::str(std::string_view function_name) const {
    std::string s(function_name);
    s += "(";
    for (std::size_t i = 0; i < params_.size(); ++i)
        s += (i ? ", ::" : "::") + params_[i].str();
    s += ")";
    if (!type_vars_.empty()) {
        s += " where ";
        if (type_vars_.size() > 1)
            s += "{";
        for (std::size_t i = 0; i < type_vars_.size(); ++i)
            s += (i ? ", " : "") + bound_str(type_vars_[i]);
        if (type_vars_.size() > 1)
            s += "}";
    }
    return s;
}

} // namespace kcache
