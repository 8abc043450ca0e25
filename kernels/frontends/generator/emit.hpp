// Small llvm::IRBuilder helpers for generator methods: the portable builtins
// (targets/builtins.hpp) as calls, indexing with i32 indices, structured control flow without
// allocas (loop-carried values are phis, so the IR is valid for every address-space layout), and
// arithmetic chosen by lattice type. Thread-safety: free functions on the caller's builder.
#pragma once

#include "core/types.hpp"
#include "targets/builtins.hpp"

#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kcache::kernels {
class GenContext;
}

namespace kcache::kernels::emit {

using Values = std::vector<llvm::Value*>;

/// `kcache.<kind>.<x|y|z>()`, an i32.
llvm::Value* index(llvm::IRBuilder<>& b, builtins::IndexKind kind, int dim);
llvm::Value* thread_idx(llvm::IRBuilder<>& b, int dim = 0);
llvm::Value* block_idx(llvm::IRBuilder<>& b, int dim = 0);
llvm::Value* block_dim(llvm::IRBuilder<>& b, int dim = 0);
llvm::Value* grid_dim(llvm::IRBuilder<>& b, int dim = 0);
/// block_idx * block_dim + thread_idx along `dim`.
llvm::Value* global_id(llvm::IRBuilder<>& b, int dim = 0);
/// block_dim * grid_dim along `dim`: the stride of a grid-stride loop.
llvm::Value* grid_size(llvm::IRBuilder<>& b, int dim = 0);

/// `kcache.barrier()`.
void barrier(llvm::IRBuilder<>& b);
/// `kcache.<op>.f32|f64(args...)` for float or double arguments.
llvm::Value* math(llvm::IRBuilder<>& b, builtins::MathOp op, llvm::ArrayRef<llvm::Value*> args);
/// `kcache.atomic_add.<f32|f64|i32>(ptr, v)`; returns the old value.
llvm::Value* atomic_add(llvm::IRBuilder<>& b, llvm::Value* ptr, llvm::Value* v);

/// &base[i] for an i32 index (sign-extended), elements of type `elem`.
llvm::Value* element_ptr(llvm::IRBuilder<>& b, llvm::Type* elem, llvm::Value* base, llvm::Value* i);
llvm::Value* load(llvm::IRBuilder<>& b, llvm::Type* elem, llvm::Value* base, llvm::Value* i);
void store(llvm::IRBuilder<>& b, llvm::Value* v, llvm::Value* base, llvm::Value* i);

/// An internal static shared-memory array `[count x elem]` in the generator's module, in the
/// target's shared address space, undef-initialised.
llvm::GlobalVariable* shared_array(GenContext& g, llvm::Type* elem, std::uint64_t count,
                                   const std::string& name);

/// if (cond) then(); continues after it.
void if_then(llvm::IRBuilder<>& b, llvm::Value* cond, const std::function<void()>& then);
/// while (cond(vals)) vals = body(vals); returns the final values. `body` may create blocks.
Values while_loop(llvm::IRBuilder<>& b, const Values& init,
                  const std::function<llvm::Value*(const Values&)>& cond,
                  const std::function<Values(const Values&)>& body);
/// for (i = start; i < end (signed); i += step) carried = body(i, carried); returns carried.
Values for_range(llvm::IRBuilder<>& b, llvm::Value* start, llvm::Value* end, llvm::Value* step,
                 const Values& carried,
                 const std::function<Values(llvm::Value* i, const Values&)>& body);

/// Arithmetic on values of lattice type `t` (float or integer; signedness from `t`).
llvm::Value* add(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y);
llvm::Value* sub(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y);
llvm::Value* mul(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y);
llvm::Value* div(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y);
/// Zero of `t`'s LLVM type.
llvm::Value* zero(llvm::IRBuilder<>& b, llvm::Type* ty);

} // namespace kcache::kernels::emit
