// World age and dispatch: which method a call with given argument types runs, in a world.
#pragma once

#include <cstdint>
#include <optional>

#include "core/function.hpp"
#include "core/method_instance.hpp"
#include "core/method_table.hpp"
#include "core/types.hpp"

namespace kcache {

/// The current world. Every definition advances it by one. Thread-safe, lock-free.
std::uint64_t current_world();

/// The answer of a dispatch and the worlds in which it holds, as in Julia: the call dispatches
/// to `mi` (nullptr: no method applies) in every world of [min_world, max_world]. max_world is
/// kMaxWorld while the answer is current; a definition that changes it (a redefinition of the
/// chosen method, a more specific method, an overlay method shadowing it, or the first method
/// that applies) closes the range at the world before its own.
struct MethodLookup {
    MethodInstance* mi = nullptr;
    std::uint64_t min_world = 0;
    std::uint64_t max_world = kMaxWorld;
    bool valid_at(std::uint64_t world) const { return min_world <= world && world <= max_world; }
};

/// Dispatch with its validity range: what `f` called with `tt` runs in `world` (the current one
/// unless told) through `table`, and the worlds in which that answer holds. Throws as
/// method_instance does. Thread-safety: thread-safe.
MethodLookup lookup_method(const Function& f, Type tt,
                           const MethodTable& table = MethodTable::global(),
                           std::optional<std::uint64_t> world = std::nullopt);

/// The method instance that a call of `f` with the concrete argument-type tuple `tt` dispatches
/// to in `world` (the current one unless told), through `table` and then its parents; nullptr
/// when no method applies. The most specific applicable method wins, as in Julia.
/// Throws AbstractTypeError when `tt` is not a tuple of concrete types, AmbiguityError naming
/// the candidates when no applicable method is more specific than all the others.
/// Thread-safety: thread-safe; current-world results are cached per table.
MethodInstance* method_instance(const Function& f, Type tt,
                                const MethodTable& table = MethodTable::global(),
                                std::optional<std::uint64_t> world = std::nullopt);

/// Like method_instance, but throws MethodError (ArityError when no method of `f` takes that
/// many arguments) listing the candidates when no method applies.
MethodInstance& require_method_instance(const Function& f, Type tt,
                                        const MethodTable& table = MethodTable::global(),
                                        std::optional<std::uint64_t> world = std::nullopt);

namespace detail {
/// Throws InvalidArgumentError unless `tt` is a Tuple type, AbstractTypeError unless its
/// elements are concrete: what every dispatch and cache lookup checks first.
void check_call_types(const Function& f, Type tt);
} // namespace detail

/// The MethodError (or ArityError) a call of `f` with `tt` gets when no method applies.
[[noreturn]] void throw_method_error(const Function& f, Type tt, const MethodTable& table,
                                     std::optional<std::uint64_t> world = std::nullopt);

} // namespace kcache
