// The ABI between host-lowered kernels (HostTarget) and the host runtime that launches them.
// Shared by the code generator (offsets below) and the runtime (the struct itself); keep both in
// step: the static_asserts pin the layout the generated code loads from.
//
// Kernel signature: the host-lowered kernel keeps its name and its parameters and gains one hidden
// trailing parameter `ptr %kcache.launch` pointing to a LaunchContext:
//     void kernel(<original params...>, kcache::host::LaunchContext* ctx)
// Every other function defined in the module gains the same trailing parameter too (it is passed
// along at each direct call), which is how callees reach the builtins. Because of that, functions
// of a host-lowered module may be called only directly; taking a function's address is rejected.
//
// The runtime runs each thread of a block with its own LaunchContext (thread_idx differs) but the
// same `shared_memory` block and the same `barrier` callback; `barrier` must return only once all
// threads of the block have reached it (fibers or threads; the generated code does not care).
//
// Static shared memory: every global of the module in the shared address space is laid out at
// increasing offsets (each aligned to its own alignment) from `shared_memory`; the total size is
// Artifact::static_shared_bytes, and the object also exports it as the constant
// `<kernel>.kcache.shared_bytes` (a uint64_t). `shared_memory` must be aligned to 16 bytes at least
// and hold that many bytes; the kernel never frees or allocates it.
//
// Argument-array entry: the object also exports
//     void <kernel>.kcache.args(void* const* args, kcache::host::LaunchContext* ctx)
// which calls the kernel with *(T_i*)args[i] as its i-th parameter (cuLaunchKernel's
// kernelParams convention), so a runtime launches any kernel through this one signature.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kcache::host {

struct LaunchContext;

/// Called by `kcache.barrier()`; receives the calling thread's context.
using BarrierFn = void (*)(LaunchContext* ctx);

struct LaunchContext {
    std::uint32_t grid_dim[3];   ///< blocks per grid, x y z           (kcache.grid_dim.*)
    std::uint32_t block_dim[3];  ///< threads per block, x y z         (kcache.block_dim.*)
    std::uint32_t block_idx[3];  ///< this thread's block, x y z       (kcache.block_idx.*)
    std::uint32_t thread_idx[3]; ///< this thread within its block     (kcache.thread_idx.*)
    void* shared_memory;         ///< base of the block's static shared memory
    BarrierFn barrier;           ///< block-wide barrier
    void* runtime_data;          ///< opaque to generated code; for the runtime's own use
};

/// The argument-array entry: `void(void* const* args, LaunchContext* ctx)`.
using ArgsEntryFn = void (*)(void* const* args, LaunchContext* ctx);

/// Suffixes of the symbols the object exports beside the kernel `<kernel>`.
inline constexpr const char* kArgsEntrySuffix = ".kcache.args";
inline constexpr const char* kSharedBytesSuffix = ".kcache.shared_bytes";

/// Byte offsets the generated code uses. Field order: grid_dim, block_dim, block_idx, thread_idx.
inline constexpr std::size_t kGridDimOffset = 0;
inline constexpr std::size_t kBlockDimOffset = 12;
inline constexpr std::size_t kBlockIdxOffset = 24;
inline constexpr std::size_t kThreadIdxOffset = 36;
inline constexpr std::size_t kSharedMemoryOffset = 48;
inline constexpr std::size_t kBarrierOffset = 56;

static_assert(offsetof(LaunchContext, grid_dim) == kGridDimOffset);
static_assert(offsetof(LaunchContext, block_dim) == kBlockDimOffset);
static_assert(offsetof(LaunchContext, block_idx) == kBlockIdxOffset);
static_assert(offsetof(LaunchContext, thread_idx) == kThreadIdxOffset);
static_assert(offsetof(LaunchContext, shared_memory) == kSharedMemoryOffset);
static_assert(offsetof(LaunchContext, barrier) == kBarrierOffset);
static_assert(sizeof(void*) == 8, "the host ABI assumes a 64-bit host");

} // namespace kcache::host
