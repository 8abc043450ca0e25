// The host CPU as a device: the reference device where no GPU is present; runs every kernel.
//
// Modules: host artifacts ("object") loaded with LLVM ORC LLJIT, one JITDylib per module, so
// that destroying the Module removes the JITDylib and frees its code.
//
// Launches: the blocks of a grid are spread over a fixed thread pool (the calling thread helps);
// the threads of a block run on one worker as user-mode fibers (runtime/fiber.hpp). One fiber
// runs the block's threads one after the other as a plain loop; when a thread reaches the
// barrier, its fiber is parked and a fresh fiber goes on with the next thread. Once every thread
// has been started and every unfinished one waits at the barrier, the barrier opens and the
// parked fibers resume in order. So a kernel without barriers costs one fiber switch per block,
// and barriers and shared memory behave as on a GPU (a barrier waits for every thread that has
// not exited). Launches are synchronous: they have finished when launch() returns; streams only
// order and synchronise trivially.
//
// Thread-safety: thread-safe; launches from several threads share the pool.
#pragma once

#include "runtime/device.hpp"

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

    DeviceKind kind() const override { return DeviceKind::Host; }
    const std::string& name() const override;
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

} // namespace kcache::runtime
