// The runtime API: launch a kernel by function and C++ arguments on a device.
//
//   kernels::KernelCompiler compiler;               // dispatch + compilation + cache
//   runtime::Runtime rt(compiler);                  // devices: enumerate_devices()
//   runtime::Device& dev = rt.best_device();
//   runtime::DeviceBuffer<float> x(dev, hx), y(dev, hy);
//   rt.launch(dev, Function::named("saxpy"), {grid, block}, 2.0f, x, y, std::int32_t(n));
//
// The C++ argument types give the type tuple (tt_of<Args...>(); DeviceBuffer<T>, DevicePtr<T>
// and T* are Ptr{T}); dispatch and compilation go through the compiler's cache with the device's
// TargetSpec. Each artifact is loaded once per device (two devices of one arch share the artifact
// and load it separately) and its module and function handle are kept per device, keyed by the
// artifact; each code instance launched is bound to its artifact's module, so kernels with
// identical code (one shared artifact, see store/) share one module. A wrong argument count or
// type is a MethodError from dispatch (or a LaunchError for a buffer of another device) before
// anything is launched.
//
// Call sites: each (device, function, argument types) launched is a site that stays resolved to
// the module of its current code. A launch finds its site in a lock-free table and launches
// through it exactly as a KernelHandle does (runtime/kernel_handle.hpp: `rt.kernel<...>(dev, f)`
// skips that lookup): one world check, the module published in the thread's hazard cell, the
// device's launch. No lock, no shared counter, no allocation, no formatting, arguments packed into
// a stack array; threads launching at once share no written cache line.
//
// Eviction: the runtime listens to the cache's invalidations. An invalidated code instance is
// unbound from its module; a module whose last bound code instance is invalidated leaves the
// device's table at once (under the table's lock) and is unloaded outside the lock as soon as no
// launch of it is in flight: right away if none is, otherwise by the completion of the last one
// (stream order). A module another valid code instance still uses stays loaded. Every site sees
// the definition's new world on its next launch and revalidates: the next launch loads the new
// code, and no launch starts on an evicted module (runtime/launch_hazard.hpp).
//
// Thread-safety: thread-safe; launches, loads and invalidations may run concurrently. Destroy the
// Runtime only when no thread launches through it; launching through one of its KernelHandles
// afterwards throws LaunchError.
#pragma once

#include "core/striped_counter.hpp"
#include "core/type_of.hpp"
#include "kernels/kernel_compiler.hpp"
#include "runtime/buffer.hpp"
#include "runtime/device.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/errors.hpp"
#include "runtime/kernel_site.hpp"

#include <array>
#include <atomic>
#include <bit>
#include <memory>
#include <shared_mutex>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kcache::runtime {

template <class... Params>
class KernelHandle;

struct RuntimeStats {
    std::uint64_t hits = 0;               ///< launches that found their module loaded
    std::uint64_t misses = 0;             ///< launches that went the slow way (compile and/or load)
    std::uint64_t loads = 0;              ///< modules loaded (and kept)
    std::uint64_t evictions = 0;          ///< modules unloaded because their code was invalidated
    std::uint64_t deferred_evictions = 0; ///< of those, unloaded by the last in-flight launch
    std::uint64_t stale_loads = 0; ///< loads discarded: the code was invalidated while loading
};

namespace detail {

[[noreturn]] void wrong_device(const Device* buffer_device, const Device& launch_device);

/// How a C++ argument is passed: `Raw` is the value in the packed argument array.
template <class T, class = void>
struct KernelArg {
    static_assert(std::is_arithmetic_v<T>,
                  "kernel arguments: arithmetic scalars, kcache::float16, DeviceBuffer<T>, "
                  "DevicePtr<T> or T*");
    using Raw = T;
    static Raw raw(const T& v, const Device&) { return v; }
};
template <class T>
struct KernelArg<T*> {
    using Raw = T*;
    static Raw raw(T* v, const Device&) { return v; }
};
template <class T>
struct KernelArg<DeviceBuffer<T>> {
    using Raw = T*;
    static Raw raw(const DeviceBuffer<T>& b, const Device& d) {
        if (b.device() != &d) [[unlikely]]
            wrong_device(b.device(), d);
        return b.data();
    }
};
template <class T>
struct KernelArg<DevicePtr<T>> {
    using Raw = T*;
    static Raw raw(const DevicePtr<T>& p, const Device& d) {
        if (p.device && p.device != &d) [[unlikely]]
            wrong_device(p.device, d);
        return p.ptr;
    }
};
template <>
struct KernelArg<float16> {
    using Raw = _Float16; // passed like LLVM's half: in an SSE register on x86-64
    static Raw raw(const float16& v, const Device&) { return std::bit_cast<_Float16>(v.bits); }
};

/// The parameter layout of the kernel signature the C++ argument types `Args` give, derived
/// once per argument list; checked against the sizes of the values packed for them.
template <class... Args>
const ParamLayout* layout_of() {
    static const auto layout = [] {
        std::array<ParamLayout, sizeof...(Args)> out{};
        fill_parameter_layout(tt_of<Args...>(), out);
        const std::size_t sizes[sizeof...(Args) + 1] = {sizeof(typename KernelArg<Args>::Raw)...};
        for (std::size_t i = 0; i < sizeof...(Args); ++i)
            if (out[i].size != sizes[i])
                throw InvalidArgumentError("kernel argument " + std::to_string(i + 1) + " of " +
                                           tt_of<Args...>().str() + " packs " +
                                           std::to_string(sizes[i]) + " bytes, its type " +
                                           std::to_string(out[i].size));
        return out;
    }();
    return layout.data();
}

} // namespace detail

class Runtime {
public:
    /// Devices: `devices`, or every device present. The compiler (and its cache) must outlive
    /// the runtime.
    explicit Runtime(kernels::KernelCompiler& compiler);
    Runtime(kernels::KernelCompiler& compiler, std::vector<std::shared_ptr<Device>> devices);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    const std::vector<std::shared_ptr<Device>>& devices() const { return devices_; }
    Device& device(std::size_t i = 0) const { return *devices_.at(i); }
    /// The first GPU, else the host.
    Device& best_device() const;
    kernels::KernelCompiler& compiler() const { return compiler_; }

    /// A handle that launches `f` with arguments of the types `Params` on `d`, resolved now:
    /// dispatched, compiled and loaded (MethodError and compile errors are thrown here). See
    /// runtime/kernel_handle.hpp.
    template <class... Params>
    KernelHandle<Params...> kernel(Device& d, const Function& f);

    /// Launches kernel `f` on `d` with `args`; see the file comment.
    template <class... Args>
    void launch(Device& d, const Function& f, const LaunchConfig& config, const Args&... args) {
        const Type tt = tt_of<std::remove_cvref_t<Args>...>();
        std::tuple<typename detail::KernelArg<std::remove_cvref_t<Args>>::Raw...> raw{
            detail::KernelArg<std::remove_cvref_t<Args>>::raw(args, d)...};
        std::apply(
            [&](auto&... r) {
                void* values[sizeof...(Args) + 1] = {static_cast<void*>(&r)...};
                const KernelArgs packed{values, sizeof...(Args),
                                        detail::layout_of<std::remove_cvref_t<Args>...>()};
                launch_packed(d, f, tt, config, packed);
            },
            raw);
    }

    /// The untyped launch: `tt` must describe `args` (runtime::launch derives both).
    void launch_packed(Device& d, const Function& f, Type tt, const LaunchConfig& config,
                       const KernelArgs& args);

    RuntimeStats stats() const;
    /// Modules in `d`'s table (loaded, not evicted).
    std::size_t loaded_modules(const Device& d) const;
    /// Evicted modules whose unloading waits for in-flight launches.
    std::size_t pending_unloads() const { return pending_.load(std::memory_order_relaxed); }

private:
    friend struct detail::KernelSite;
    template <class... Params>
    friend class KernelHandle;
    struct DeviceState;
    using LoadedModule = detail::LoadedModule;

    DeviceState& state_of(const Device& d) const;
    /// The site of (d, f, tt), made on first use (lock-free when it exists).
    detail::KernelSite& site(DeviceState& ds, const Function& f, Type tt);
    std::shared_ptr<detail::KernelSite> make_site(DeviceState& ds, const Function& f, Type tt);
    /// A site resolved now (compiled and loaded), for a handle.
    std::shared_ptr<detail::KernelSite> resolved_site(Device& d, const Function& f, Type tt);
    /// Under the site's mutex: binds the site to the module of its current code, compiling and
    /// loading as needed, and protects that module in `cell`.
    LoadedModule* bind(detail::KernelSite& s, detail::HazardCell& cell, bool count);
    /// The module bound to `ci` on `ds`, loaded and bound if need be; nullptr when `ci` was
    /// invalidated meanwhile.
    LoadedModule* module_for(DeviceState& ds, const kernels::KernelCache::CodeInstanceType& ci,
                             bool& loaded);
    /// Completion of a launch: clears the thread's hazard cell (`cell`) and, when the module it
    /// held was evicted meanwhile, unloads it if nothing else holds it.
    static void finish_launch(void* cell) noexcept;
    /// Unloads each retired module that no launch holds (others are unloaded by their holders).
    void unload_unheld(LoadedModule* const* modules, std::size_t count, bool deferred) noexcept;
    void on_invalidate(const InvalidationEvent& event);

    kernels::KernelCompiler& compiler_;
    std::vector<std::shared_ptr<Device>> devices_;
    std::vector<std::unique_ptr<DeviceState>> states_;
    mutable StripedCounter hits_;
    std::atomic<std::uint64_t> misses_{0}, loads_{0}, evictions_{0}, deferred_{0}, stale_{0};
    std::atomic<std::size_t> pending_{0};
    Subscription subscription_;
};

} // namespace kcache::runtime

#include "runtime/kernel_handle.hpp" // Runtime::kernel
