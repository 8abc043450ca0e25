#include "store/tiers/redis/rendezvous.hpp"

#include <cstring>

namespace kcache::store {
namespace {

// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

std::uint64_t first_word(const kernels::Digest& d) {
    std::uint64_t w;
    std::memcpy(&w, d.bytes.data(), sizeof w);
    return w;
}

} // namespace

Rendezvous::Rendezvous(const std::vector<std::string>& names) {
    for (const std::string& name : names)
        seeds_.push_back(
            first_word(kernels::DigestBuilder("kcache.rendezvous").add(name).finish()));
}

std::size_t Rendezvous::pick(const kernels::Digest& key) const {
    const std::uint64_t k = first_word(key);
    std::size_t best = 0;
    std::uint64_t best_weight = 0;
    for (std::size_t i = 0; i < seeds_.size(); ++i) {
        const std::uint64_t w = mix(seeds_[i] ^ mix(k));
        if (i == 0 || w > best_weight || (w == best_weight && seeds_[i] > seeds_[best])) {
            best = i;
            best_weight = w;
        }
    }
    return best;
}

} // namespace kcache::store
