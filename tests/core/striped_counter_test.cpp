// Thread indices (dense, distinct among live threads, reused after exit) and the counter built on
// them (exact across threads, including threads that exited and threads past its owned stripes).
#include <gtest/gtest.h>

#include <latch>
#include <set>
#include <thread>
#include <vector>

#include "core/striped_counter.hpp"
#include "core/thread_index.hpp"

namespace kcache {
namespace {

TEST(ThreadIndex, DistinctAmongLiveThreadsAndReusedAfterExit) {
    constexpr int kThreads = 8;
    std::vector<std::uint32_t> seen(kThreads);
    std::latch all_have_one(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            seen[t] = detail::this_thread_index();
            EXPECT_EQ(detail::this_thread_index(), seen[t]); // stable for the thread's life
            all_have_one.arrive_and_wait();                  // all alive at once
        });
    for (auto& t : threads)
        t.join();
    const std::set<std::uint32_t> distinct(seen.begin(), seen.end());
    EXPECT_EQ(distinct.size(), std::size_t(kThreads));
    for (std::uint32_t i : seen)
        EXPECT_LT(i, detail::kMaxThreadIndices);

    // Those threads have exited: a new one gets one of the freed indices, the lowest.
    std::uint32_t later = detail::kNoThreadIndex;
    std::thread([&] { later = detail::this_thread_index(); }).join();
    EXPECT_EQ(later, *distinct.begin());
}

TEST(StripedCounter, ExactAcrossThreadsThatCountAndExit) {
    StripedCounter counter;
    constexpr int kThreads = 4, kAdds = 100000;
    for (int round = 0; round < 3; ++round) { // later rounds reuse the exited threads' stripes
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < kAdds; ++i)
                    counter.add();
            });
        for (auto& t : threads)
            t.join();
    }
    counter.add();
    EXPECT_EQ(counter.load(), std::uint64_t(3 * kThreads * kAdds + 1));
}

// More live threads than owned stripes: the rest share the atomic stripe, still exact.
TEST(StripedCounter, ExactPastItsOwnedStripes) {
    StripedCounter counter;
    constexpr int kThreads = 80, kAdds = 1000;
    std::latch all_started(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            all_started.arrive_and_wait(); // all hold an index at once
            for (int i = 0; i < kAdds; ++i)
                counter.add();
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(counter.load(), std::uint64_t(kThreads * kAdds));
}

} // namespace
} // namespace kcache
