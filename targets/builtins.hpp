// Portable kernel builtins: the vocabulary front ends use in the IR they hand to a Target, and
// the per-target hook through which Target::prepare lowers them.
//
// Builtins are function *declarations* in the module, called directly (any other use is an error):
//
//   i32   @kcache.thread_idx.{x,y,z}()   thread index within the block
//   i32   @kcache.block_idx.{x,y,z}()    block index within the grid
//   i32   @kcache.block_dim.{x,y,z}()    threads per block
//   i32   @kcache.grid_dim.{x,y,z}()     blocks per grid
//   void  @kcache.barrier()              block-wide barrier; also orders shared and global memory
//                                        accesses of the block (like CUDA __syncthreads)
//   T     @kcache.atomic_add.{f32,f64,i32}(ptr addrspace(G) %p, T %v)
//                                        *p += v atomically (relaxed, device scope); returns the
//                                        old value
//   T     @kcache.<op>.{f32,f64}(T...)   math, T = float or double, ops:
//         unary:  sqrt rsqrt exp exp2 log log2 log10 sin cos tan fabs floor ceil trunc
//         binary: pow fmin fmax          ternary: fma
//
// Math per target: nvptx calls libdevice (__nv_*) when it is found, else only the ops the
// backend selects natively (sqrt rsqrt fma fabs floor ceil trunc fmin fmax); amdgpu uses LLVM
// intrinsics the backend selects itself: all f32 ops but tan and pow, and for f64 only
// sqrt rsqrt fma fabs floor ceil trunc fmin fmax; host uses LLVM intrinsics (libm). An op a
// target cannot lower is a LoweringError naming the builtin and the target.
//
// Address spaces: G and S below are the target's numbers for the global and shared spaces
// (Target::address_spaces(); 1 and 3 on every built-in target).
//
// Static shared memory: a global in addrspace(S) with an undef or poison initializer (GPU shared
// memory is uninitialised), e.g. `@tile = internal addrspace(3) global [256 x float] undef`.
// Accessed through `ptr addrspace(S)`. External (dynamically sized) shared memory is not
// supported. Host lowering rewrites these globals into offsets from the launch context's shared
// base (targets/host/host_abi.hpp).
//
// Kernel parameters: global memory is `ptr addrspace(G)`, as the GPU backends expect.
#pragma once

#include "targets/address_spaces.hpp"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace llvm {
class GlobalVariable;
class Module;
} // namespace llvm

namespace kcache::builtins {

/// Names start with this prefix; any other declared function is left to the target's linking.
inline constexpr std::string_view kPrefix = "kcache.";

enum class IndexKind { ThreadIdx, BlockIdx, BlockDim, GridDim };

enum class MathOp {
    Sqrt,
    Rsqrt,
    Exp,
    Exp2,
    Log,
    Log2,
    Log10,
    Sin,
    Cos,
    Tan,
    Fabs,
    Floor,
    Ceil,
    Trunc,
    Pow,
    Fmin,
    Fmax,
    Fma
};

/// "sqrt", "fmin", ... as in the builtin's name.
std::string_view name(MathOp op);
unsigned arity(MathOp op);
/// Ops every GPU backend of LLVM 19 (NVPTX, AMDGPU) selects for float and double without a
/// library call: sqrt rsqrt fma fabs floor ceil trunc fmin fmax.
bool gpu_selects_natively(MathOp op);

/// Target hook for Target::prepare. Implementations insert code at the builder's insertion point
/// (just before the builtin call, in the function that calls it). Used by one thread at a time.
class Lowering {
public:
    virtual ~Lowering() = default;
    /// An i32 value of the index builtin; `dim` is 0, 1, 2 for x, y, z.
    virtual llvm::Value* index(llvm::IRBuilder<>& b, IndexKind kind, int dim) = 0;
    virtual void barrier(llvm::IRBuilder<>& b) = 0;
    /// Sync scope of kcache.atomic_add.
    virtual llvm::SyncScope::ID atomic_scope(llvm::LLVMContext& ctx) = 0;
    /// The op's result for `args` of type `ty` (float or double); throws LoweringError when the
    /// target cannot lower it. `builtin` is the called builtin's name, for messages.
    virtual llvm::Value* math(llvm::IRBuilder<>& b, MathOp op, llvm::Type* ty,
                              llvm::ArrayRef<llvm::Value*> args, std::string_view builtin) = 0;
};

/// Replaces every call to a kcache.* builtin in `m` through `lowering`, then deletes the
/// declarations; pointers are in `spaces`' numbering. Throws LoweringError for an unknown
/// kcache.* name, a wrong signature, or a use other than a direct call.
void lower(llvm::Module& m, Lowering& lowering, const AddressSpaceMap& spaces);

/// The op through the matching LLVM intrinsic (rsqrt as 1/sqrt). Never fails to build the IR;
/// whether the backend can select it is the caller's concern.
llvm::Value* emit_intrinsic(llvm::IRBuilder<>& b, MathOp op, llvm::Type* ty,
                            llvm::ArrayRef<llvm::Value*> args);

/// Static shared memory laid out at increasing offsets in module order, each global aligned to its
/// alignment (explicit, else the type's ABI alignment).
struct SharedLayout {
    std::vector<std::pair<llvm::GlobalVariable*, std::uint64_t>> offsets;
    std::uint64_t size = 0;
};

/// Checks the static-shared-memory convention (globals in the shared space of `spaces` defined,
/// undef or poison initialised; LoweringError otherwise) and lays the globals out.
SharedLayout shared_layout(llvm::Module& m, const AddressSpaceMap& spaces);

} // namespace kcache::builtins
