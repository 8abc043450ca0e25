// A test-only device driver, "testcpu": two devices that run testcpu artifacts on this CPU. Each
// loads modules with its own ORC loader (targets/host/host_loader.hpp), sets a launch's arguments
// one by one from the parameter layout into an argument buffer of its own, as a driver that takes
// arguments by size and alignment does (Level Zero, Vulkan), and runs the blocks on the
// launching thread through the runtime's block scheduler (runtime/drivers/host/block_runner.hpp).
// Nothing in runtime/ names it.
#pragma once

#include "runtime/device.hpp"
#include "targets/host/host_loader.hpp"

#include <atomic>
#include <memory>

namespace kcache::test {

/// Thread-safety: thread-safe (launches are synchronous and run on the caller's thread).
class TestCpuDevice final : public runtime::Device {
public:
    TestCpuDevice(runtime::DeviceKind kind, int ordinal);

    runtime::DeviceKind kind() const override { return kind_; }
    const std::string& name() const override { return name_; }
    const TargetSpec& target() const override { return spec_; }

    void* allocate(std::size_t bytes) override;
    void free(void* p) noexcept override;
    void copy_to_device(void* dst, const void* src, std::size_t n, runtime::Stream*) override;
    void copy_to_host(void* dst, const void* src, std::size_t n, runtime::Stream*) override;
    void copy_on_device(void* dst, const void* src, std::size_t n, runtime::Stream*) override;
    std::unique_ptr<runtime::Stream> create_stream() override;
    void synchronize() override {}
    std::unique_ptr<runtime::Module> load(const Artifact& artifact) override;
    void launch(const runtime::Module& module, const runtime::LaunchConfig& config,
                const runtime::KernelArgs& args, runtime::Completion done) override;

    /// Launches run so far.
    std::uint64_t launches() const { return launches_.load(); }
    std::size_t loaded_modules() const { return loader_.loaded(); }

private:
    runtime::DeviceKind kind_;
    std::string name_;
    TargetSpec spec_;
    HostLoader loader_;
    std::atomic<std::uint64_t> launches_{0};
};

/// Registers "testcpu" with the device registry (once) and returns its kind; its devices compile
/// for testcpu_target().
runtime::DeviceKind testcpu_driver();

} // namespace kcache::test
