// Rendezvous (highest random weight) hashing: which of several servers holds a key. Every
// client that lists the same servers, in any order, picks the same one for a key; removing a
// server moves only the keys it held, and adding one takes an even share from each.
//
// A key's weight on a server mixes the server's seed (BLAKE3 of its name, computed once) with
// 64 bits of the key's digest (BLAKE3 output: already uniform), so picking costs a few
// multiplications per server and allocates nothing.
//
// Thread-safety: immutable after construction.
#pragma once

#include "kernels/digest.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace kcache::store {

class Rendezvous {
public:
    /// `names` identify the servers (the same string for the same server in every client).
    explicit Rendezvous(const std::vector<std::string>& names);

    /// The index (into `names`) of the server that holds `key`.
    std::size_t pick(const kernels::Digest& key) const;

private:
    std::vector<std::uint64_t> seeds_;
};

} // namespace kcache::store
