// The host CPU as a device: the reference device where no GPU is present; runs every kernel.
//
// Modules: host artifacts loaded by the ORC loader of targets/host/host_loader.hpp, one JITDylib
// per module, so that destroying the Module frees its code. Launches go through the object's
// argument-array entry (targets/host/host_abi.hpp), so any argument list launches through one C
// signature.
//
// Launches: the blocks of a grid are spread over a fixed thread pool
// (runtime/drivers/host/thread_pool.hpp; the calling thread helps); the threads of a block run on
// one worker as user-mode fibers (runtime/drivers/host/block_runner.hpp), so barriers and shared
// memory behave as on a GPU. Launches are synchronous: they have finished when launch() returns;
// streams only order and synchronise trivially.
//
// Thread-safety: thread-safe; launches from several threads share the pool.
#pragma once

#include "runtime/device.hpp"
#include "runtime/device_registry.hpp"

#include <memory>

namespace kcache::runtime {

struct HostDeviceOptions {
    /// Worker threads besides the launching thread; 0: hardware_concurrency() - 1.
    unsigned workers = 0;
    int opt_level = 2;
};

class HostDevice final : public Device {
public:
    explicit HostDevice(HostDeviceOptions options = {});
    ~HostDevice() override;

    DeviceKind kind() const override { return DeviceKind::host(); }
    const std::string& name() const override;
    /// The host target for this CPU (resolved by the target: the default arch is this CPU).
    const TargetSpec& target() const override;

    void* allocate(std::size_t bytes) override;
    void free(void* p) noexcept override;
    void copy_to_device(void* dst, const void* src, std::size_t bytes, Stream* s) override;
    void copy_to_host(void* dst, const void* src, std::size_t bytes, Stream* s) override;
    void copy_on_device(void* dst, const void* src, std::size_t bytes, Stream* s) override;

    std::unique_ptr<Stream> create_stream() override;
    void synchronize() override {}

    std::unique_ptr<Module> load(const Artifact& artifact) override;
    void launch(const Module& module, const LaunchConfig& config, const KernelArgs& args,
                Completion done) override;

    /// Modules currently loaded (JITDylibs alive).
    std::size_t loaded_modules() const;
    unsigned workers() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

/// The host driver: one device, a HostDevice with default options. Registered as "host" by
/// register_builtin_device_drivers.
DeviceDriver host_device_driver();

} // namespace kcache::runtime
