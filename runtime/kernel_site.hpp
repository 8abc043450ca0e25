// Internal to runtime/: the state behind launch() and KernelHandle. A KernelSite is one
// (runtime, device, function, argument types) resolved to the module its current code is loaded
// in; a LoadedModule is one artifact loaded on one device for one Runtime.
//
// The invariant that makes a launch one world check: while the world counter equals a site's
// bound_world, its module holds code valid in that world (redefinitions move the world before
// they evict anything). Sites are revalidated one thread at a time (their mutex), so bound_world
// and module are always written as a pair, in world order. LoadedModules are never freed while
// their Runtime lives (a launch may still read a stale pointer to one); eviction unloads the
// module inside, once no hazard cell holds it (runtime/launch_hazard.hpp).
#pragma once

#include "core/cache_handle.hpp"
#include "kernels/kernel_compiler.hpp"
#include "runtime/device.hpp"
#include "runtime/launch_hazard.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace kcache::runtime {

class Runtime;

namespace detail {

struct LoadedModule {
    Runtime* runtime = nullptr;
    std::unique_ptr<Module> module; // reset when unloaded
    kernels::ArtifactPtr artifact;
    /// Valid code instances bound to this module (guarded by its device's table lock): kernels
    /// with identical code share one artifact (store/), so one module.
    std::size_t users = 0;
    /// Set (under the table lock) when it leaves its device's table: no launch may start on it.
    std::atomic<bool> retired{false};
    /// Claimed by the one thread that unloads it.
    std::atomic<bool> unloaded{false};
};

struct KernelSite : std::enable_shared_from_this<KernelSite> {
    KernelSite(Runtime& rt, std::shared_ptr<Device> d, const Function& fn, Type types,
               kernels::KernelCache::Handle code_handle, std::size_t h)
        : device(d.get()), runtime(&rt), f(&fn), tt(types), hash(h), code(code_handle),
          device_owner(std::move(d)) {}

    /// Launches the site's current code with packed arguments. Throws LaunchError once the
    /// runtime is gone, and what compiling, loading and launching throw.
    void launch(const LaunchConfig& config, const KernelArgs& args);
    /// Resolves the current code and protects its module in `cell` (the slow path of launch).
    LoadedModule* resolve(HazardCell& cell);
    /// "saxpy(Float32, ...) on host (...)", for errors.
    std::string describe() const;

    // Read by every launch.
    const std::atomic<std::uint64_t>* const world = &kcache::detail::world_counter();
    std::atomic<std::uint64_t> bound_world{0}; ///< 0: nothing bound (or the runtime is gone)
    std::atomic<LoadedModule*> module{nullptr};
    Device* const device;
    std::atomic<Runtime*> runtime; ///< nullptr once the runtime is destroyed

    const Function* const f;
    const Type tt;
    const std::size_t hash; ///< for the runtime's site table
    const kernels::KernelCache::Handle code;
    const std::shared_ptr<Device> device_owner; ///< handles keep their device alive
    std::mutex mutex;                           ///< one revalidation at a time
};

} // namespace detail
} // namespace kcache::runtime
