// The host device's block scheduler: runs the blocks of a launch on the calling thread, the
// threads of each block as user-mode fibers (runtime/drivers/host/fiber.hpp). One fiber runs the
// block's threads one after the other as a plain loop; when a thread reaches the barrier, its fiber
// is parked and a fresh fiber goes on with the next thread. Once every thread has been started and
// every unfinished one waits at the barrier, the barrier opens and the parked fibers resume in
// order. So a kernel without barriers costs one fiber switch per block, and barriers and shared
// memory behave as on a GPU (a barrier waits for every thread that has not exited).
//
// Each OS thread keeps its fibers and its block's shared memory from one launch to the next:
// nothing allocates once they have grown to the largest block seen. Any device that runs kernels
// of the host ABI (targets/host/host_abi.hpp) on this CPU can run its blocks through it.
#pragma once

#include "runtime/device.hpp"
#include "targets/host/host_abi.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kcache::runtime {

/// The most threads a block may have.
inline constexpr std::uint64_t kMaxBlockThreads = 1024;

/// The blocks of one launch and which is next. Thread-safety: `next` is claimed atomically by
/// every thread running blocks of it; the rest is immutable while they do.
struct BlockLaunch {
    host::ArgsEntryFn entry = nullptr;
    void* const* args = nullptr;
    Dim3 grid, block;
    /// Static and dynamic shared memory per block.
    std::size_t shared_bytes = 0;
    /// grid.count().
    std::uint64_t total = 0;
    std::atomic<std::uint64_t> next{0};
};

/// Claims blocks of `launch` and runs each on the calling thread until none is left.
/// Thread-safety: any number of threads may run blocks of one launch at once.
void run_blocks(BlockLaunch& launch);

} // namespace kcache::runtime
