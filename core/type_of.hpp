// Maps C++ types to lattice types, so a caller can write the seed's
// `tt = map(Core.Typeof, args)` as `tt_of<Args...>()` or `typeof_args(args...)`.
//   float → Float32, double → Float64, int32_t → Int32, bool → Bool, T* → Ptr{T} (global memory)
// Extend it for your own types by specialising `kcache::TypeOf<T>` with a `static Type get()`.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/types.hpp"

namespace kcache {

/// 16-bit float storage types, for argument lists that carry Float16 / BFloat16 values.
struct float16 {
    std::uint16_t bits;
};
struct bfloat16 {
    std::uint16_t bits;
};

template <class T, class = void>
struct TypeOf; // no mapping: a compile error names T

namespace detail {
template <class T>
Type integer_type() {
    if constexpr (std::is_same_v<T, bool>)
        return types::Bool();
    else if constexpr (std::is_signed_v<T>) {
        if constexpr (sizeof(T) == 1)
            return types::Int8();
        else if constexpr (sizeof(T) == 2)
            return types::Int16();
        else if constexpr (sizeof(T) == 4)
            return types::Int32();
        else
            return types::Int64();
    } else {
        if constexpr (sizeof(T) == 1)
            return types::UInt8();
        else if constexpr (sizeof(T) == 2)
            return types::UInt16();
        else if constexpr (sizeof(T) == 4)
            return types::UInt32();
        else
            return types::UInt64();
    }
}
} // namespace detail

template <class T>
struct TypeOf<T, std::enable_if_t<std::is_integral_v<T> && (sizeof(T) <= 8)>> {
    static Type get() { return detail::integer_type<T>(); }
};
template <>
struct TypeOf<float> {
    static Type get() { return types::Float32(); }
};
template <>
struct TypeOf<double> {
    static Type get() { return types::Float64(); }
};
template <>
struct TypeOf<float16> {
    static Type get() { return types::Float16(); }
};
template <>
struct TypeOf<bfloat16> {
    static Type get() { return types::BFloat16(); }
};
template <class T>
struct TypeOf<T*> {
    static Type get() { return Type::pointer(TypeOf<std::remove_cv_t<T>>::get()); }
};

/// The lattice type of C++ type T (cv-qualifiers and references ignored).
template <class T>
Type type_of() {
    return TypeOf<std::remove_cvref_t<T>>::get();
}

/// The argument-type tuple of a C++ argument list. Computed once per list of C++ types and
/// then free: the hot path calls it without allocating.
template <class... Args>
Type tt_of() {
    static const Type tt = Type::tuple({type_of<Args>()...});
    return tt;
}

/// `map(Core.Typeof, args)`: the argument-type tuple of these values.
template <class... Args>
Type typeof_args(const Args&...) {
    return tt_of<Args...>();
}

} // namespace kcache
