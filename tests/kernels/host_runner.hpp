// Runs host artifacts (targets/host_abi.hpp) in this process through ORC LLJIT, one std::thread
// per GPU thread of a block so that barriers work, for checking kernels against C++ references.
#pragma once

#include "targets/artifact.hpp"
#include "targets/host_abi.hpp"

#include <llvm/ExecutionEngine/Orc/LLJIT.h>

#include <array>
#include <functional>
#include <memory>
#include <string>

namespace kcache::test {

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};

/// One host object loaded into a fresh LLJIT (libm and the process resolve the rest).
class HostModule {
public:
    explicit HostModule(const Artifact& a);
    ~HostModule();
    template <typename Fn>
    Fn lookup(const std::string& name) {
        return reinterpret_cast<Fn>(address(name));
    }

private:
    void* address(const std::string& name);
    std::unique_ptr<llvm::orc::LLJIT> jit_;
};

/// Calls `thread(ctx)` for every thread of the grid with its launch context; blocks run one after
/// the other, the threads of a block concurrently, sharing `shared_bytes` of shared memory and a
/// barrier.
void launch(Dim3 grid, Dim3 block, std::uint64_t shared_bytes,
            const std::function<void(host::LaunchContext*)>& thread);

/// Runs a `k(out::Ptr{Float32})` host artifact on one thread and returns out[0].
float run_store_kernel(const Artifact& a);

} // namespace kcache::test
