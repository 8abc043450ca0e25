// The result of lowering one kernel for one target. Thread-safety: a plain value.
#pragma once

#include "targets/target_spec.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace kcache {

/// Wall time of each lowering step; steps not run through the same call stay zero.
struct StepTimes {
    std::chrono::nanoseconds prepare{0};
    std::chrono::nanoseconds optimize{0};
    std::chrono::nanoseconds emit{0};
};

struct Artifact {
    TargetKind kind;
    std::string arch;
    int opt_level = 0;
    /// The symbol the runtime looks up (the kernel's name; unchanged by lowering).
    std::string kernel_symbol;
    /// LLVM_VERSION_STRING of the LLVM that produced it, e.g. "19.1.7".
    std::string llvm_version;
    /// What `bytes` holds, one of the target's artifact_formats(): for the built-ins "ptx"
    /// (text), "cubin" (ELF, EM_CUDA), "hsaco" (ELF shared object, EM_AMDGPU) or "object" (host
    /// relocatable object, loadable by ORC).
    std::string format;
    std::vector<std::uint8_t> bytes;
    /// nvptx only: the PTX text, also kept when `bytes` holds the cubin assembled from it.
    std::string ptx;
    /// Why an optional product is missing (e.g. nvJitLink absent or rejecting the arch); empty
    /// when everything asked for was produced.
    std::string notes;
    /// Bytes of static shared memory (addrspace(3) globals) one block uses. On host, the launch
    /// context's shared-memory base must point to that many; see targets/host/host_abi.hpp.
    std::uint64_t static_shared_bytes = 0;
    StepTimes times;
};

} // namespace kcache
