// The device interface (small, IREE-HAL/ORC style): a device allocates memory, copies, loads an
// Artifact as a module and launches the module's kernel on a stream. Every handle is RAII.
//
// Thread-safety: every Device operation is thread-safe unless noted. A Module is immutable after
// loading; destroying it unloads it and must not race with a launch of it (the Runtime makes sure
// of that). A Stream may be used from one thread at a time. Modules and streams must be destroyed
// before their device.
#pragma once

#include "runtime/kernel_args.hpp"
#include "targets/artifact.hpp"
#include "targets/target_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::runtime {

namespace detail {
struct DeviceDriverEntry;
}

/// A device driver registered with the device registry (runtime/device_registry.hpp): "host",
/// "cuda", "hip", or one a program registers itself. Trivially copyable; equality is identity.
/// The default-constructed kind names no driver.
class DeviceKind {
public:
    constexpr DeviceKind() = default;
    /// The driver registered as `name`; throws InvalidArgumentError listing the registered names.
    static DeviceKind named(std::string_view name);
    /// The built-in drivers (registered on first use of the registry).
    static DeviceKind host();
    static DeviceKind cuda();
    static DeviceKind hip();

    /// The registered name; empty for the default-constructed kind.
    std::string_view name() const;

    explicit operator bool() const { return entry_ != nullptr; }
    friend bool operator==(DeviceKind, DeviceKind) = default;
    std::size_t hash() const { return std::hash<const void*>{}(entry_); }

private:
    friend struct detail::DeviceDriverEntry;
    explicit DeviceKind(const detail::DeviceDriverEntry* entry) : entry_(entry) {}
    const detail::DeviceDriverEntry* entry_ = nullptr;
};

/// The registered name ("cuda"); "none" for the default-constructed kind.
std::string_view to_string(DeviceKind kind);
/// Prints to_string(kind) (test frameworks and logs show the name, not the handle).
std::ostream& operator<<(std::ostream& os, DeviceKind kind);

struct Dim3 {
    std::uint32_t x = 1, y = 1, z = 1;
    constexpr Dim3() = default;
    constexpr Dim3(std::uint32_t x_, std::uint32_t y_ = 1, std::uint32_t z_ = 1)
        : x(x_), y(y_), z(z_) {}
    constexpr std::uint64_t count() const { return std::uint64_t(x) * y * z; }
};

class Device;

/// An ordered queue of work on one device. Thread-safety: one thread at a time.
class Stream {
public:
    virtual ~Stream() = default;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    Device& device() const { return device_; }
    /// Blocks until everything enqueued on this stream has finished.
    virtual void synchronize() = 0;

protected:
    explicit Stream(Device& d) : device_(d) {}

private:
    Device& device_;
};

struct LaunchConfig {
    Dim3 grid;
    Dim3 block;
    /// Dynamic shared memory per block, in bytes, after the kernel's static shared memory.
    std::uint32_t shared_bytes = 0;
    /// nullptr: the device's default stream.
    Stream* stream = nullptr;
};

/// Called once the launch no longer needs its module kept loaded by the caller: on the host when
/// the kernel has finished executing (launches are synchronous); on a GPU as soon as the launch
/// is enqueued, because destroying a GPU module is stream-ordered (its unload waits for the work
/// enqueued before it). It never means "the results are ready": synchronise for that. A device
/// calls it exactly once before its launch() returns (from any thread), and not at all when
/// launch() throws: the Runtime keeps the module of a launch in progress in a per-thread hazard
/// cell (runtime/launch_hazard.hpp) that the next launch of the thread reuses. Must not throw.
struct Completion {
    void (*fn)(void* data) noexcept = nullptr;
    void* data = nullptr;
};

/// One artifact loaded on one device, and its kernel's function handle. Unloaded when destroyed:
/// on the host at once, on a GPU once the work enqueued before the destruction has finished.
/// Thread-safety: immutable; destroy it only when no launch of it is being made (and, on the
/// host, none is running: see Completion).
class Module {
public:
    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    Device& device() const { return device_; }
    /// The kernel's entry (host: the function's address; CUDA: a CUfunction; HIP: hipFunction_t).
    void* function() const { return function_; }
    /// Static shared memory the kernel needs per block.
    std::uint64_t static_shared_bytes() const { return static_shared_bytes_; }
    const std::string& kernel_name() const { return kernel_; }

protected:
    Module(Device& d, std::string kernel) : device_(d), kernel_(std::move(kernel)) {}
    void* function_ = nullptr;
    std::uint64_t static_shared_bytes_ = 0;

private:
    Device& device_;
    std::string kernel_;
};

/// Thread-safety: thread-safe.
class Device {
public:
    virtual ~Device() = default;
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    /// The driver that made it.
    virtual DeviceKind kind() const = 0;
    /// Human-readable, e.g. "host (znver3, 16 threads)" or "cuda:0 NVIDIA H100 (sm_90)".
    virtual const std::string& name() const = 0;
    /// The cache shard key this device compiles for, resolved (arch filled in): sm_XY from the
    /// compute capability, gfxNNNN from the arch name, the host CPU's name.
    virtual const TargetSpec& target() const = 0;

    // --- memory ---------------------------------------------------------------------------
    /// At least 256-byte aligned; throws RuntimeError when out of memory. 0 bytes: nullptr.
    virtual void* allocate(std::size_t bytes) = 0;
    virtual void free(void* p) noexcept = 0;
    /// Copies are ordered on `stream` (nullptr: default stream) and complete before returning.
    virtual void copy_to_device(void* dst, const void* src, std::size_t bytes,
                                Stream* stream = nullptr) = 0;
    virtual void copy_to_host(void* dst, const void* src, std::size_t bytes,
                              Stream* stream = nullptr) = 0;
    virtual void copy_on_device(void* dst, const void* src, std::size_t bytes,
                                Stream* stream = nullptr) = 0;

    // --- streams ---------------------------------------------------------------------------
    virtual std::unique_ptr<Stream> create_stream() = 0;
    /// Waits for all work on the device.
    virtual void synchronize() = 0;

    // --- modules and launches ------------------------------------------------------------------
    /// Loads an artifact of this device's target kind, in a format the device takes (one of the
    /// target's artifact_formats()). Throws RuntimeError.
    virtual std::unique_ptr<Module> load(const Artifact& artifact) = 0;
    /// Enqueues the module's kernel; `done` is called as Completion says (before launch
    /// returns). Throws LaunchError for an impossible shape (an empty grid or block,
    /// dimensions or threads per block past the device's or the kernel's limits, too much shared
    /// memory), before launching.
    virtual void launch(const Module& module, const LaunchConfig& config, const KernelArgs& args,
                        Completion done) = 0;

protected:
    Device() = default;
};

} // namespace kcache::runtime

template <>
struct std::hash<kcache::runtime::DeviceKind> {
    std::size_t operator()(kcache::runtime::DeviceKind k) const noexcept { return k.hash(); }
};
