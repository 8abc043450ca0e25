// The kernel library: real kernels written as generator and LLVM IR methods, registered into a
// method table by one call, used by the tests, the benchmarks and the `kcache` command.
//
// Launch conventions (1-D unless told; n, rows, cols, m, k are element counts):
//   fill, copy, vadd, saxpy, axpby_ir    any grid; one element per thread, out-of-range threads
//   idle reduce_sum      out[0] += sum(in); grid-stride; block size a power of two <= 256
//   softmax_rows    one block per row (grid.x >= rows); block size a power of two <= 256
//   transpose       out (cols x rows) = in (rows x cols)^T; block 16x16, grid covers cols x rows
//   matmul          c (m x n) = a (m x k) * b (k x n), row-major; 2-D, x over columns, y over rows
//   matmul_tiled    same; block exactly 16x16
//
// Helpers reached through dispatch (so redefining them recompiles their users):
//   muladd(a::T, b::T, c::T)::T where T<:AbstractFloat   (Float16/BFloat16 through Float32)
//   exp(x::Float32)::Float32, exp(x::Float64)::Float64   (the kcache.exp builtin)
#pragma once

#include "core/function.hpp"
#include "core/method_table.hpp"
#include "core/types.hpp"

#include <string>
#include <vector>

namespace kcache::kernels {

struct KernelInfo {
    std::string name;
    /// The methods' signatures, e.g. "saxpy(::T, ::Ptr{T}, ::Ptr{T}, ::Int32) where
    /// T<:AbstractFloat"; one per method.
    std::vector<std::string> signatures;
    std::string description;
    /// Argument-type tuples the tests and benchmarks compile, the first being the default.
    std::vector<Type> examples;
};

/// Defines the library's functions and adds their methods to `table`, once per table (later
/// calls only return the descriptions). Returns the kernels, sorted by name.
/// Thread-safety: thread-safe.
std::vector<KernelInfo> register_all(MethodTable& table = MethodTable::global());

/// The description of one registered kernel, or nullptr.
const KernelInfo* find_kernel(const std::vector<KernelInfo>& kernels, std::string_view name);

} // namespace kcache::kernels
