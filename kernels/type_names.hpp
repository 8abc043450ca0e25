// Lattice types as kernels see them: parsed from their printed names (CLI, IR metadata) and
// lowered to the LLVM types that IR methods and generators use for them.
//
//   Bool -> i8 (as stored in memory)   Int8/UInt8 -> i8   Int16/UInt16 -> i16
//   Int32/UInt32 -> i32   Int64/UInt64 -> i64   Float16 -> half   BFloat16 -> bfloat
//   Float32 -> float      Float64 -> double     Ptr{T, space} -> ptr addrspace(N)
//
// where N is the compiling target's number for the space (Target::address_spaces(); global is 1
// and shared 3 on every built-in target).
//
// Thread-safety: free functions; safe to call concurrently (each LLVMContext by one thread).
#pragma once

#include "core/types.hpp"
#include "targets/address_spaces.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llvm {
class LLVMContext;
class Type;
} // namespace llvm

namespace kcache::kernels {

/// "Float32", "Ptr{Float32}", "Ptr{Ptr{Int8}}", "Ptr{Float32, shared}" (space names as
/// kcache::to_string(AddressSpace) prints them): Type::parse, limited to the types a kernel
/// argument can have (not tuples). Throws KernelTypeError quoting the text.
Type parse_type(std::string_view text);

/// A comma-separated list ("Float32,Ptr{Float32},Int32"; blanks ignored) as a Tuple type:
/// Type::parse_list, without tuple elements. An empty text is the empty tuple. Throws
/// KernelTypeError.
Type parse_type_list(std::string_view text);

/// The LLVM type of a value of lattice type `t` (table above), pointers numbered by `spaces`.
/// Throws KernelTypeError for a type without one (abstract types, tuples, user types, type
/// variables).
llvm::Type* llvm_type(Type t, llvm::LLVMContext& ctx, const AddressSpaceMap& spaces);

/// LLVM's printed form of a type ("float", "ptr addrspace(1)"), for messages.
std::string llvm_type_str(const llvm::Type* t);

/// True for Float16, BFloat16, Float32, Float64.
bool is_float(Type t);
/// True for the signed integer types (Int8..Int64).
bool is_signed(Type t);

/// `t` with the signature's type variables replaced by the values the method instance bound
/// (`type_vars()[i]` -> `sparams[i]`), through pointers and tuples.
Type substitute(Type t, std::span<const Type> type_vars, std::span<const Type> sparams);

/// An identifier-safe rendering of a type tuple for symbol names: "Float32.Ptr_Float32_".
std::string mangle(Type tt);

} // namespace kcache::kernels
