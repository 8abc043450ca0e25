// Where a compilation's code came from, told apart by what the compiler's and the store's
// counters did while it ran: the in-process cache, compiled, or a tier of the store (memory,
// disk, redis), with or without building the IR. For one compilation at a time (`kcache run`'s
// rows, `kcache compile -v`); concurrent compilations would blur it.
// Thread-safety: owned by one thread.
#pragma once

#include "kernels/kernel_compiler.hpp"
#include "store/store.hpp"

#include <string>

namespace kcache::cli {

struct Origin {
    /// "cache" (the compiler's own cache: nothing ran), "compiled", or the name of the store's
    /// tier that held the code ("memory", "disk", "redis").
    std::string source;
    /// From a tier: the action cache answered, so no IR was built (else the IR was built and
    /// hashed, and the code found by its hash).
    bool no_ir = false;
    /// "compiled", "disk (no IR)", "memory (IR hashed)", "cache".
    std::string str() const;
};

class Provenance {
public:
    Provenance(const kernels::KernelCompiler& compiler, const store::Store& store);
    /// Starts a new observation.
    void mark();
    /// Where the code of the compilation since mark() came from.
    Origin since_mark() const;

private:
    const kernels::KernelCompiler& compiler_;
    const store::Store& store_;
    kernels::KernelCompilerStats compiler_before_;
    store::StoreStats store_before_;
};

} // namespace kcache::cli
