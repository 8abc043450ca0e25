// Internal: a compilation in progress as the world sees it.
#pragma once

#include <cstdint>
#include <vector>

namespace kcache {
class MethodInstance;
class CacheShard;
namespace detail {
struct CacheCore;

/// What a compilation was dispatched to and what it depends on so far. An invalidation that
/// touches any of it dooms the compilation, which then compiles again in the new world.
struct CompileRecord {
    MethodInstance* mi = nullptr;
    CacheShard* shard = nullptr;
    const CacheCore* core = nullptr;
    std::uint64_t world = 0;
    std::vector<MethodInstance*> dependencies;
    bool doomed = false;
    bool active = false; // registered with the world
};

} // namespace detail
} // namespace kcache
