// CUDA and HIP devices: one class over the driver table of runtime/drivers/gpu/gpu_api.hpp.
//
// Modules: CUDA loads the artifact's cubin, or its PTX where no cubin was produced (the driver
// JIT-compiles it); a cubin the driver rejects is retried from the PTX, which the artifact keeps
// (logged once per device). HIP loads the HSACO. A failed load's error carries the JIT's log.
//
// Launches go to the driver's stream (asynchronous), after checks against the device's limits
// and the kernel's own (threads per block lowered by register use, shared memory; dynamic shared
// memory past the default 48 KiB is opted in to once per kernel), all queried once: a launch
// that hits allocates nothing, takes no lock and formats nothing unless it throws.
//
// Unloading is stream-ordered: destroying a module records an event on the default stream, on
// every live stream of the device, and takes over the events recorded by streams destroyed
// since; a device-owned thread unloads the module once those events have completed (sleeping on
// them, not spinning). Where an event cannot be created or recorded, it waits for the whole
// device instead. So launches enqueued before the eviction finish with the old code.
//
// Every call makes the device current on the calling thread for its duration; another library's
// context found current is put back afterwards.
//
// Errors: every driver error is a RuntimeError naming the call, the driver's error and the device.
// An error that corrupts the context (a faulting kernel) makes the device unusable: it is logged
// once, and every later call throws DeviceUnusableError with that first error at once. Destructors
// and the unloading thread never throw; once the context is lost or the driver deinitialised (at
// process exit), they have nothing left to do.
//
// Thread-safety: thread-safe.
#pragma once

#include "runtime/device.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/drivers/gpu/gpu_api.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace kcache::runtime {

class GpuDevice final : public Device {
public:
    struct Impl;
    /// Made by the driver gpu_device_driver registers (DeviceRegistry::discover), as `kind`.
    /// Throws RuntimeError when the device cannot be used (an architecture the target of
    /// api.target does not know, ...).
    GpuDevice(const detail::GpuApi& api, DeviceKind kind, int ordinal, int opt_level = 2);
    ~GpuDevice() override;

    DeviceKind kind() const override;
    const std::string& name() const override;
    const TargetSpec& target() const override;
    int ordinal() const;

    void* allocate(std::size_t bytes) override;
    void free(void* p) noexcept override;
    void copy_to_device(void* dst, const void* src, std::size_t bytes, Stream* s) override;
    void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream* s) override;
    void copy_on_device(void* dst, const void* src, std::size_t bytes, Stream* s) override;
    std::unique_ptr<Stream> create_stream() override;
    void synchronize() override;
    std::unique_ptr<Module> load(const Artifact& artifact) override;
    void launch(const Module& module, const LaunchConfig& config, const KernelArgs& args,
                Completion done) override;

    /// Modules loaded and not yet unloaded by the driver (those waiting for their stream-ordered
    /// unload count as loaded).
    std::size_t loaded_modules() const;
    /// Modules the driver has unloaded.
    std::uint64_t unloaded_modules() const;
    /// Blocks until every module destroyed so far has been unloaded (or given up on, when the
    /// context is lost).
    void wait_for_unloads() const;
    /// Whether a lost context has made the device unusable (see the file comment).
    bool unusable() const;

private:
    std::unique_ptr<Impl> impl_;
};

/// The device driver of a GPU backend, over the driver table `api()` loads (detail::cuda_api,
/// detail::hip_api): count() initialises the driver and counts its devices (0 when it reports
/// none), and throws DriverUnavailableError when the backend is compiled out or its driver
/// library is absent, RuntimeError when the driver is there but fails to load or initialise;
/// create() makes a GpuDevice. Registered as "cuda" and "hip" by
/// register_builtin_device_drivers.
DeviceDriver gpu_device_driver(const detail::GpuApi& (*api)());

} // namespace kcache::runtime
