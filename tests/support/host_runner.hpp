// Runs host artifacts (targets/host/host_abi.hpp) in the test process through kcache's own ORC
// loader (targets/host/host_loader.hpp), one std::thread per GPU thread of a block so that barriers
// work: an executor independent of the runtime's host device, for checking what the compiler emits
// against C++ references.
#pragma once

#include "targets/artifact.hpp"
#include "targets/host/host_abi.hpp"
#include "targets/host/host_loader.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace kcache::test {

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};

/// The loader the tests share (one per test program).
HostLoader& host_loader();

/// One host object loaded through host_loader().
class HostModule {
public:
    explicit HostModule(const Artifact& a) : object_(host_loader().load(a)) {}
    template <typename Fn>
    Fn lookup(const std::string& name) const {
        return reinterpret_cast<Fn>(object_->lookup(name));
    }
    const HostObject& object() const { return *object_; }

private:
    std::unique_ptr<HostObject> object_;
};

/// Calls `thread(ctx)` for every thread of the grid with its launch context; blocks run one after
/// the other, the threads of a block concurrently, sharing `shared_bytes` of shared memory and a
/// barrier.
void launch(Dim3 grid, Dim3 block, std::uint64_t shared_bytes,
            const std::function<void(host::LaunchContext*)>& thread);

/// Runs a `k(out::Ptr{Float32})` host artifact on one thread and returns out[0].
float run_store_kernel(const Artifact& a);

} // namespace kcache::test
