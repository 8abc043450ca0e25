// Allocations made by the calling thread, for tests of allocation-free hot paths. A test program
// that links allocation_counter.cpp has its global operator new replaced by a counting one.
// Thread-safety: the count is per thread.
#pragma once

#include <cstddef>

namespace kcache::test {

/// Calls of operator new on this thread since it started.
std::size_t thread_allocations();

} // namespace kcache::test
