// Internal: a compilation in progress as the world sees it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/types.hpp"

namespace kcache {
class Function;
class MethodInstance;
class MethodTable;
class CacheShard;
namespace detail {
struct CacheCore;

/// A dispatch a compilation made: its answer must still hold when the result is committed,
/// and it stays an edge of the code instance afterwards.
struct LookupRecord {
    const Function* f = nullptr;
    Type tt;
    const MethodTable* table = nullptr;
    std::uint64_t world = 0;
    bool found = false; ///< false: no method applied (a "no method" edge)
};

/// What a compilation was dispatched to and what it depends on so far. An invalidation that
/// touches any of it dooms the compilation, which then compiles again in the new world; so does
/// a lookup whose answer no longer holds when the result is committed (its validity range).
struct CompileRecord {
    MethodInstance* mi = nullptr;
    CacheShard* shard = nullptr;
    const CacheCore* core = nullptr;
    std::uint64_t world = 0;
    /// Method instances whose code or dispatch the result used. Written by the compiling thread
    /// under the world lock (shared suffices: only invalidation, which holds it exclusive,
    /// reads another thread's record).
    std::vector<MethodInstance*> dependencies;
    /// Every dispatch the compilation made, its own first. Touched by the compiling thread only.
    std::vector<LookupRecord> lookups;
    /// The latest world in which a lookup's answer began to hold.
    std::uint64_t min_world = 0;
    bool doomed = false;
    bool active = false; // registered with the world
};

} // namespace detail
} // namespace kcache
