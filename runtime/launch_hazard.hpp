// Hazard pointers for launches: how a module is kept loaded while a launch uses it, without a
// lock or a shared counter on the launch path.
//
// Every thread that launches owns a HazardCell (one cache line). A launch publishes the module it
// is about to use in its cell, then checks that the module has not been retired; it clears the
// cell when the device no longer needs the module (Completion). Whoever retires a module (the
// eviction on invalidation) marks it retired, then scans every cell: the module may be unloaded
// only when no cell holds it, else the launch holding it unloads it when it clears its cell.
// This is Michael's hazard pointers with the asymmetric fences of folly's hazptr and of
// liburcu's membarrier flavour: the launch side is two plain stores and two loads, with a
// compiler barrier where a full fence would otherwise be needed, and the rare retiring side pays
// for both with membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread
// of the process execute a full fence. Where membarrier is unavailable (old kernels, some
// sandboxes) both sides use sequentially consistent operations instead: correct, a few
// nanoseconds slower per launch.
//
// Why not liburcu itself: an RCU read-side section would have to span a whole launch, so a grace
// period (and every eviction behind it) would wait for the longest kernel running anywhere, and
// its deferred callbacks would unload modules on liburcu's thread, after the launch that could
// have done it; per-module hazards unload each module as soon as its own last launch is done.
//
// A cell is claimed on the thread's first launch (the only allocation) and given back for reuse
// when the thread exits. Launches must not nest on one thread (none does: a device calls its
// Completion before launch() returns).
//
// Thread-safety: thread-safe as described; a cell is written only by its owner thread (and by
// the device's Completion for the owner's launch in progress).
#pragma once

#include <atomic>

namespace kcache::runtime::detail {

struct alignas(64) HazardCell {
    /// What the owner's launch in progress uses, or nullptr.
    std::atomic<const void*> held{nullptr};
    std::atomic<bool> in_use{false};
    HazardCell* next = nullptr; // the registry's list; set once, before the cell is published
};

/// Whether the launch side may use compiler barriers (membarrier works). Decided once, before
/// the first cell is handed out, and never changed.
inline constinit std::atomic<bool> asymmetric_fences{false};

inline constinit thread_local HazardCell* tls_hazard_cell = nullptr;
HazardCell& claim_hazard_cell();

/// The calling thread's cell.
inline HazardCell& this_thread_hazard() {
    if (HazardCell* c = tls_hazard_cell) [[likely]]
        return *c;
    return claim_hazard_cell();
}

/// Publishes `p` in `cell`; then `retired` tells whether `p` may be used: true when it was
/// retired before this (the caller must release() and not use p).
inline bool protect(HazardCell& cell, const void* p, const std::atomic<bool>& retired) noexcept {
    if (asymmetric_fences.load(std::memory_order_relaxed)) [[likely]] {
        cell.held.store(p, std::memory_order_release);
        std::atomic_signal_fence(
            std::memory_order_seq_cst); // the retirer's membarrier does the rest
    } else {
        cell.held.store(p, std::memory_order_seq_cst);
    }
    return retired.load(std::memory_order_seq_cst);
}

/// Clears `cell`; then whether what it held has been retired meanwhile (its unloading may then
/// fall to the caller: see the file comment).
inline bool release(HazardCell& cell, const std::atomic<bool>& retired) noexcept {
    if (asymmetric_fences.load(std::memory_order_relaxed)) [[likely]] {
        cell.held.store(nullptr, std::memory_order_release);
        std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
        cell.held.store(nullptr, std::memory_order_seq_cst);
    }
    return retired.load(std::memory_order_seq_cst);
}

/// For the retiring side, after marking retired (seq_cst): makes every launch's protect() and
/// release() before this visible to the scan that follows, and every later protect() see the
/// mark. False when that could not be done (membarrier failed): treat everything as held.
bool synchronize_hazards() noexcept;

/// Whether any thread's cell holds `p`. Call after synchronize_hazards().
bool hazard_held(const void* p) noexcept;

} // namespace kcache::runtime::detail
