// A kernel's arguments as a device receives them: a packed array of pointers to each argument's
// bytes (cuLaunchKernel's kernelParams convention) and the parameter layout derived from the
// kernel's signature, size, alignment and kind of each argument: what a driver that sets
// arguments one by one (Level Zero, Vulkan, Metal) needs, and what validation can check.
// Thread-safety: plain values and free functions.
#pragma once

#include "core/types.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kcache::runtime {

enum class ParamKind : std::uint8_t {
    Integer, ///< Bool, Int8..Int64, UInt8..UInt64
    Float,   ///< Float16, BFloat16, Float32, Float64
    Pointer, ///< Ptr{T, space}: a device address
};

struct ParamLayout {
    std::uint32_t size = 0;
    std::uint32_t alignment = 0;
    ParamKind kind = ParamKind::Integer;

    friend bool operator==(const ParamLayout&, const ParamLayout&) = default;
};

/// values[i] points to the i-th argument's bytes, laid out as layout[i] says.
struct KernelArgs {
    void* const* values = nullptr;
    std::size_t count = 0;
    /// `count` entries; derived from the signature (parameter_layout).
    const ParamLayout* layout = nullptr;
};

/// The layout of a value of the concrete lattice type `t` as a kernel argument: its size and
/// alignment on the host (Bool 1 byte, Float16 2, pointers 8, ...). Throws KernelTypeError for
/// a type no kernel argument has (abstract, tuple, user-defined).
ParamLayout param_layout(Type t);

/// The layout of each element of the argument-type tuple `tt`, into `out` (tt's length).
void fill_parameter_layout(Type tt, std::span<ParamLayout> out);
/// The same, allocated.
std::vector<ParamLayout> parameter_layout(Type tt);

} // namespace kcache::runtime
