// A counter striped over cache lines, so that threads counting (cache hits, launches) do not
// share one. Thread-safety: thread-safe; add() is lock-free and allocation-free.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kcache {

class StripedCounter {
public:
    void add() noexcept { stripes_[stripe()].value.fetch_add(1, std::memory_order_relaxed); }
    /// The sum over the stripes; exact once the counting threads are quiet.
    std::uint64_t load() const noexcept {
        std::uint64_t sum = 0;
        for (const auto& s : stripes_)
            sum += s.value.load(std::memory_order_relaxed);
        return sum;
    }

private:
    static constexpr std::size_t kStripes = 16;
    static std::size_t stripe() noexcept {
        static std::atomic<std::size_t> next{0};
        thread_local const std::size_t index =
            next.fetch_add(1, std::memory_order_relaxed) % kStripes;
        return index;
    }
    struct alignas(64) Stripe {
        std::atomic<std::uint64_t> value{0};
    };
    std::array<Stripe, kStripes> stripes_;
};

} // namespace kcache
