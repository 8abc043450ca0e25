// A counter with one cache line per thread, so that threads counting (cache hits, launches)
// neither share a line nor need an atomic read-modify-write: each thread adds to the stripe of
// its thread index (core/thread_index.hpp) with a load and a store, as its only writer. Threads
// past the first kOwnedStripes indices share one more stripe, with fetch_add.
//
// Thread-safety: thread-safe; add() is lock-free and allocation-free (after the thread's first
// call anywhere, which claims its index).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/thread_index.hpp"

namespace kcache {

class StripedCounter {
public:
    void add() noexcept {
        const std::uint32_t i = detail::this_thread_index();
        if (i < kOwnedStripes) [[likely]] {
            std::atomic<std::uint64_t>& v = owned_[i].value; // written by this thread only
            v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        } else {
            shared_.value.fetch_add(1, std::memory_order_relaxed);
        }
    }
    /// The sum over the stripes; exact once the counting threads are quiet.
    std::uint64_t load() const noexcept {
        std::uint64_t sum = shared_.value.load(std::memory_order_relaxed);
        for (const auto& s : owned_)
            sum += s.value.load(std::memory_order_relaxed);
        return sum;
    }

private:
    static constexpr std::size_t kOwnedStripes = 64;
    struct alignas(64) Stripe {
        std::atomic<std::uint64_t> value{0};
    };
    std::array<Stripe, kOwnedStripes> owned_;
    Stripe shared_;
};

} // namespace kcache
