#include "core/thread_index.hpp"

#include <array>
#include <bit>
#include <mutex>

namespace kcache::detail {
namespace {

constexpr std::uint32_t kWordBits = 64;

struct IndexPool {
    std::mutex mutex;
    std::array<std::uint64_t, kMaxThreadIndices / kWordBits> used{};

    std::uint32_t claim() {
        std::lock_guard lock(mutex);
        for (std::uint32_t w = 0; w < used.size(); ++w)
            if (~used[w]) {
                const auto bit = static_cast<std::uint32_t>(std::countr_one(used[w]));
                used[w] |= std::uint64_t(1) << bit;
                return w * kWordBits + bit;
            }
        return kNoThreadIndex;
    }
    void give_back(std::uint32_t index) {
        std::lock_guard lock(mutex);
        used[index / kWordBits] &= ~(std::uint64_t(1) << (index % kWordBits));
    }
};

IndexPool& pool() {
    static IndexPool* p = new IndexPool; // never destroyed: threads may exit after main returns
    return *p;
}

// Set once the thread's index has been given back: it must not claim again (its thread-local
// destructors have begun, so none could give a new one back).
constinit thread_local bool tls_exiting = false;

struct GiveBackAtExit {
    std::uint32_t index;
    ~GiveBackAtExit() {
        tls_exiting = true;
        tls_thread_index_plus_one = 0;
        pool().give_back(index);
    }
};

} // namespace

std::uint32_t claim_thread_index() noexcept {
    if (tls_exiting)
        return kNoThreadIndex;
    std::uint32_t index;
    try {
        index = pool().claim();
    } catch (...) { // the mutex could not be locked: share the fallback
        return kNoThreadIndex;
    }
    if (index == kNoThreadIndex)
        return kNoThreadIndex; // asks again next time: an index may have been freed by then
    thread_local GiveBackAtExit give_back{index};
    tls_thread_index_plus_one = index + 1;
    return index;
}

} // namespace kcache::detail
