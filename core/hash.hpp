// Hash mixing shared by every hash kcache computes for in-process tables (never persisted).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kcache {

/// boost::hash_combine's mixing, widened to 64 bits.
constexpr std::size_t hash_combine(std::size_t seed, std::size_t value) noexcept {
    return seed ^ (value + 0x9E3779B97F4A7C15ULL + (seed << 6) + (seed >> 2));
}

/// A finaliser (splitmix64's) for hashes that index power-of-two tables by their low bits.
constexpr std::size_t hash_finalize(std::uint64_t h) noexcept {
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    return static_cast<std::size_t>(h);
}

} // namespace kcache
