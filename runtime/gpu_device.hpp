// CUDA and HIP devices: one class over the driver table of runtime/gpu_api.hpp.
//
// Modules: CUDA loads the artifact's cubin, or its PTX where no cubin was produced (the driver
// JIT-compiles it); HIP loads the HSACO. Launches go to the driver's stream (asynchronous).
// Unloading is stream-ordered: destroying a module records an event on every stream of the
// device and a device-owned thread unloads the module once those events have completed, so
// launches enqueued before the eviction finish with the old code.
//
// Every driver error is a RuntimeError naming the call, the driver's error name and the device.
// Thread-safety: thread-safe.
#pragma once

#include "runtime/device.hpp"
#include "runtime/gpu_api.hpp"

#include <memory>
#include <vector>

namespace kcache::runtime {

class GpuDevice final : public Device {
public:
    struct Impl;
    /// Use gpu_devices(kind) instead.
    GpuDevice(const detail::GpuApi& api, int ordinal, int opt_level = 2);
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

private:
    std::unique_ptr<Impl> impl_;
};

/// The devices of one GPU backend (kind Cuda or Hip). Throws RuntimeError with the reason when
/// the driver is missing, compiled out or fails to initialise; an empty list when it has none.
std::vector<std::shared_ptr<Device>> gpu_devices(DeviceKind kind);

} // namespace kcache::runtime
