#include "runtime/launch_hazard.hpp"

#include "core/log.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>

namespace kcache::runtime::detail {
namespace {

long membarrier(int command) noexcept {
    return syscall(SYS_membarrier, command, 0, 0);
}

// Every cell ever made, newest first. Cells are never freed: a retirer may be scanning one while
// its thread exits, and another thread reuses it.
std::atomic<HazardCell*> registry{nullptr};

void decide_fences() noexcept {
    const long supported = membarrier(MEMBARRIER_CMD_QUERY);
    const bool ok = supported >= 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
    asymmetric_fences.store(ok, std::memory_order_relaxed); // published by call_once
    if (!ok)
        log().info("membarrier(PRIVATE_EXPEDITED) unavailable ({}): launches use full fences",
                   supported < 0 ? std::strerror(errno) : "not supported");
}

constinit thread_local bool tls_gave_back = false;

// Gives the thread's cell back when it exits; no launch of it is in progress then. A launch
// from a thread-local destructor that runs later claims a cell that is never given back.
struct GiveBackAtExit {
    HazardCell* cell;
    ~GiveBackAtExit() {
        tls_gave_back = true;
        tls_hazard_cell = nullptr;
        cell->in_use.store(false, std::memory_order_release);
    }
};

} // namespace

HazardCell& claim_hazard_cell() {
    static std::once_flag decided;
    std::call_once(decided, decide_fences); // before any cell exists, so before any protect()
    HazardCell* cell = nullptr;
    for (HazardCell* c = registry.load(std::memory_order_acquire); c && !cell; c = c->next) {
        bool free = false;
        if (c->in_use.compare_exchange_strong(free, true, std::memory_order_acquire))
            cell = c;
    }
    if (!cell) {
        cell = new HazardCell;
        cell->in_use.store(true, std::memory_order_relaxed);
        cell->next = registry.load(std::memory_order_relaxed);
        while (!registry.compare_exchange_weak(cell->next, cell, std::memory_order_release,
                                               std::memory_order_relaxed)) {
        }
    }
    tls_hazard_cell = cell;
    if (!tls_gave_back) {
        thread_local GiveBackAtExit give_back{cell};
        (void)give_back;
    }
    return *cell;
}

bool synchronize_hazards() noexcept {
    if (!asymmetric_fences.load(std::memory_order_relaxed))
        return true; // both sides use sequentially consistent operations
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return true;
    // Registered, so this should not fail; the global command is slower but covers everyone.
    if (membarrier(MEMBARRIER_CMD_GLOBAL) == 0)
        return true;
    log().error("membarrier failed ({}): evicted modules stay loaded", std::strerror(errno));
    return false;
}

bool hazard_held(const void* p) noexcept {
    for (HazardCell* c = registry.load(std::memory_order_acquire); c; c = c->next)
        if (c->held.load(std::memory_order_seq_cst) == p)
            return true;
    return false;
}

} // namespace kcache::runtime::detail
