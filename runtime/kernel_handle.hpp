// KernelHandle: a call site that launches one kernel, for one list of argument types, on one
// device, resolved once.
//
//   auto saxpy = rt.kernel<float, float*, float*, int>(dev, Function::named("saxpy"));
//   saxpy({grid, block}, 2.0f, x, y, n); // x, y: DeviceBuffer<float>, DevicePtr<float> or float*
//
// Making the handle dispatches, compiles and loads (MethodError and the compiler's errors are
// thrown then). A launch through it checks the world counter against the world in which its
// module was bound to valid code (one load and compare), publishes the module in the thread's
// hazard cell and launches: no hash, no lock, no allocation, no formatting. Once the world has
// moved (any definition), the next launch revalidates: a cache probe and, when a redefinition
// invalidated the code, a compile and a load. So redefinition evicts and reloads through handles
// as through Runtime::launch: a launch through a handle never starts on an evicted module, and a
// module is never unloaded under a launch that uses it.
//
// Arguments convert as in a call of a function `void(Params...)`: a DeviceBuffer<T> or a
// DevicePtr<T> (of the handle's device; else LaunchError) or a T* where a T* is declared, and an
// arithmetic value to the declared arithmetic type.
//
// Lifetime: a handle keeps its device alive, not its Runtime. Launching through a handle whose
// Runtime has been destroyed throws LaunchError naming the kernel and device; destroying the
// Runtime while a launch through one of its handles is running is undefined, as for launch().
//
// Thread-safety: a copyable value; any number of threads may launch through one handle, or
// through copies of it, at once.
#pragma once

#include "runtime/runtime.hpp"

#include <memory>
#include <tuple>
#include <type_traits>

namespace kcache::runtime {

template <class... Params>
class KernelHandle {
    template <class T>
    using Raw = typename detail::KernelArg<std::remove_cvref_t<T>>::Raw;

public:
    /// Launches the kernel with `args` (see the file comment).
    template <class... Args>
    requires(sizeof...(Args) == sizeof...(Params)) void operator()(const LaunchConfig& config,
                                                                   const Args&... args) const {
        static_assert((std::is_convertible_v<Raw<Args>, Raw<Params>> && ...),
                      "a kernel handle's arguments must convert to its declared parameter types");
        std::tuple<Raw<Params>...> raw{static_cast<Raw<Params>>(
            detail::KernelArg<std::remove_cvref_t<Args>>::raw(args, *device_))...};
        std::apply(
            [&](auto&... r) {
                void* values[sizeof...(Params) + 1] = {static_cast<void*>(&r)...};
                const KernelArgs packed{values, sizeof...(Params),
                                        detail::layout_of<std::remove_cvref_t<Params>...>()};
                site_->launch(config, packed);
            },
            raw);
    }

    Device& device() const { return *device_; }

private:
    friend class Runtime;
    explicit KernelHandle(std::shared_ptr<detail::KernelSite> site)
        : site_(std::move(site)), device_(site_->device) {}

    std::shared_ptr<detail::KernelSite> site_;
    Device* device_;
};

template <class... Params>
KernelHandle<Params...> Runtime::kernel(Device& d, const Function& f) {
    return KernelHandle<Params...>(resolved_site(d, f, tt_of<std::remove_cvref_t<Params>...>()));
}

} // namespace kcache::runtime
