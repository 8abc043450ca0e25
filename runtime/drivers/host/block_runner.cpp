#include "runtime/drivers/host/block_runner.hpp"

#include "runtime/drivers/host/fiber.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

namespace kcache::runtime {
namespace {

using detail::fiber_init;
using detail::fiber_release;
using detail::fiber_switch;
using detail::FiberContext;
using detail::FiberStack;

constexpr std::size_t kFiberStackBytes = 256 * 1024;
struct BlockRunner;

struct Fiber {
    FiberContext ctx;
    FiberStack stack{kFiberStackBytes};
    host::LaunchContext lc{};
    BlockRunner* runner = nullptr;
    bool idle = true;
    ~Fiber() { fiber_release(ctx); }
};

// Per OS thread (worker or launching thread): fibers, their free list and the shared memory of
// the block being run. Everything is reused from one block to the next; nothing allocates once
// it has grown to the largest block seen.
struct BlockRunner {
    FiberContext sched;
    const BlockLaunch* job = nullptr;
    std::uint32_t next_thread = 0, nthreads = 0;
    std::vector<std::unique_ptr<Fiber>> fibers;
    std::vector<Fiber*> free, waiting, round;
    std::byte* shared = nullptr;
    std::size_t shared_capacity = 0;

    BlockRunner() {
        free.reserve(kMaxBlockThreads);
        waiting.reserve(kMaxBlockThreads);
        round.reserve(kMaxBlockThreads);
    }
    ~BlockRunner() {
        ::operator delete[](shared, std::align_val_t(64));
        fiber_release(sched);
    }

    static void barrier(host::LaunchContext* lc) {
        auto* f = static_cast<Fiber*>(lc->runtime_data);
        BlockRunner& r = *f->runner;
        r.waiting.push_back(f);
        fiber_switch(f->ctx, r.sched);
    }

    static void fiber_main(void* p) {
        auto* f = static_cast<Fiber*>(p);
        BlockRunner& r = *f->runner;
        for (;;) {
            while (r.next_thread < r.nthreads) {
                const std::uint32_t t = r.next_thread++;
                const Dim3& b = r.job->block;
                f->lc.thread_idx[0] = t % b.x;
                f->lc.thread_idx[1] = (t / b.x) % b.y;
                f->lc.thread_idx[2] = t / (b.x * b.y);
                r.job->entry(r.job->args, &f->lc);
            }
            f->idle = true;
            fiber_switch(f->ctx, r.sched);
        }
    }

    Fiber* take_fiber() {
        if (!free.empty()) {
            Fiber* f = free.back();
            free.pop_back();
            return f;
        }
        auto f = std::make_unique<Fiber>();
        f->runner = this;
        fiber_init(f->ctx, f->stack, &fiber_main, f.get());
        fibers.push_back(std::move(f));
        return fibers.back().get();
    }

    void resume(Fiber* f) {
        fiber_switch(sched, f->ctx);
        if (f->idle)
            free.push_back(f);
    }

    void run_block(const BlockLaunch& j, std::uint32_t bx, std::uint32_t by, std::uint32_t bz) {
        job = &j;
        next_thread = 0;
        nthreads = static_cast<std::uint32_t>(j.block.count());
        waiting.clear();
        for (;;) {
            if (next_thread < nthreads) {
                Fiber* f = take_fiber();
                host::LaunchContext& c = f->lc;
                c.grid_dim[0] = j.grid.x, c.grid_dim[1] = j.grid.y, c.grid_dim[2] = j.grid.z;
                c.block_dim[0] = j.block.x, c.block_dim[1] = j.block.y, c.block_dim[2] = j.block.z;
                c.block_idx[0] = bx, c.block_idx[1] = by, c.block_idx[2] = bz;
                c.shared_memory = shared;
                c.barrier = &BlockRunner::barrier;
                c.runtime_data = f;
                f->idle = false;
                resume(f);
            } else if (!waiting.empty()) {
                // Every thread has started; those not finished wait at the barrier: open it.
                round.swap(waiting);
                for (Fiber* f : round)
                    resume(f);
                round.clear();
            } else {
                break;
            }
        }
    }

    void run_blocks(BlockLaunch& j) {
        if (j.shared_bytes > shared_capacity) {
            ::operator delete[](shared, std::align_val_t(64));
            shared = nullptr;
            shared_capacity = 0;
            const std::size_t cap = std::max<std::size_t>(j.shared_bytes, 4096);
            shared = static_cast<std::byte*>(::operator new[](cap, std::align_val_t(64)));
            shared_capacity = cap;
        }
        const std::uint64_t gx = j.grid.x, gxy = gx * j.grid.y;
        for (;;) {
            const std::uint64_t b = j.next.fetch_add(1, std::memory_order_relaxed);
            if (b >= j.total)
                return;
            run_block(j, static_cast<std::uint32_t>(b % gx),
                      static_cast<std::uint32_t>((b / gx) % j.grid.y),
                      static_cast<std::uint32_t>(b / gxy));
        }
    }
};

BlockRunner& this_thread_runner() {
    thread_local BlockRunner runner;
    return runner;
}

} // namespace

void run_blocks(BlockLaunch& launch) {
    this_thread_runner().run_blocks(launch);
}

} // namespace kcache::runtime
