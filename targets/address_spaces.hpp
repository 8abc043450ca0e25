// How a target numbers the lattice's abstract pointer spaces (core/types.hpp: generic, global,
// shared, constant, local) in LLVM IR. Front ends lower `Ptr{T, space}` through the compiling
// target's map, and the target's own steps (builtins, shared memory) read it back, so a target
// with another numbering (SPIR-V's, for instance) plugs in without touching either.
// Thread-safety: a plain value.
#pragma once

#include "core/types.hpp"

namespace kcache {

struct AddressSpaceMap {
    unsigned generic = 0;
    unsigned global = 1;
    unsigned shared = 3;
    unsigned constant = 4;
    unsigned local = 5;

    /// The LLVM address space of `space`.
    constexpr unsigned operator[](AddressSpace space) const {
        switch (space) {
        case AddressSpace::Generic:
            return generic;
        case AddressSpace::Global:
            return global;
        case AddressSpace::Shared:
            return shared;
        case AddressSpace::Constant:
            return constant;
        case AddressSpace::Local:
            return local;
        }
        return generic;
    }

    friend constexpr bool operator==(const AddressSpaceMap&, const AddressSpaceMap&) = default;
};

/// The numbering LLVM's NVPTX and AMDGPU back ends share (generic/flat 0, global 1, shared 3,
/// constant 4, local/private 5).
inline constexpr AddressSpaceMap kGpuAddressSpaces{};

} // namespace kcache
