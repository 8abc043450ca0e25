// A small dense number for each live thread (0, 1, 2, ...), so that per-thread data can live in
// arrays indexed by it, each element written only by the thread holding its index: counting then
// needs a load and a store, not an atomic read-modify-write.
//
// A thread gets the lowest free index on its first call and gives it back when it exits; the
// next thread to take it sees everything the previous holder wrote (the hand-over goes through a
// mutex). Past kMaxThreadIndices live threads, or once a thread has begun to exit, the answer is
// kNoThreadIndex: callers fall back to shared atomics.
//
// Thread-safety: thread-safe. this_thread_index() is lock-free and allocation-free after the
// thread's first call.
#pragma once

#include <cstdint>

namespace kcache::detail {

inline constexpr std::uint32_t kMaxThreadIndices = 1024;
inline constexpr std::uint32_t kNoThreadIndex = 0xffffffffu;

/// This thread's index plus one; 0 until the thread first asks. Constant-initialised, so
/// reading it costs one thread-local load (no initialisation guard).
inline constinit thread_local std::uint32_t tls_thread_index_plus_one = 0;

/// Claims an index for the calling thread (the slow path of this_thread_index).
std::uint32_t claim_thread_index() noexcept;

/// The calling thread's index, or kNoThreadIndex.
inline std::uint32_t this_thread_index() noexcept {
    if (const std::uint32_t i = tls_thread_index_plus_one) [[likely]]
        return i - 1;
    return claim_thread_index();
}

} // namespace kcache::detail
