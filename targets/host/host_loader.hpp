// Loads host artifacts (targets/host/host_abi.hpp) into this process with LLVM ORC: one LLJIT per
// loader, one JITDylib per object, so that destroying a HostObject frees its code. The objects'
// external calls (libm, libgcc's helpers) resolve against the process.
//
// This is the one ORC loader of kcache: the host device (runtime/drivers/host/host_device.hpp)
// keeps one loader for all its modules; tests load artifacts through it too.
#pragma once

#include "core/errors.hpp"
#include "targets/artifact.hpp"
#include "targets/host/host_abi.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace llvm::orc {
class JITDylib;
class LLJIT;
} // namespace llvm::orc

namespace kcache {

/// An object that cannot be loaded: not an object for this CPU, a symbol it needs that the
/// process lacks, a kernel symbol it does not define. The message names the kernel and the step.
class HostLoadError : public Error {
public:
    using Error::Error;
};

class HostLoader;

/// One loaded object. Its code stays mapped until it is destroyed; nothing may run it then.
/// Thread-safety: immutable; destroy it from any thread, once nothing runs its code.
class HostObject {
public:
    ~HostObject();
    HostObject(const HostObject&) = delete;
    HostObject& operator=(const HostObject&) = delete;

    /// The kernel's own entry, `void kernel(params..., LaunchContext*)`.
    void* kernel() const { return kernel_; }
    /// The argument-array entry `<kernel>.kcache.args` (host_abi.hpp).
    host::ArgsEntryFn args_entry() const { return args_entry_; }
    /// The kernel's static shared memory per block (`<kernel>.kcache.shared_bytes`).
    std::uint64_t static_shared_bytes() const { return static_shared_bytes_; }
    /// The address of another symbol the object defines; throws HostLoadError.
    void* lookup(std::string_view symbol) const;

private:
    friend class HostLoader;
    HostObject(HostLoader& loader, llvm::orc::JITDylib& dylib) : loader_(loader), dylib_(dylib) {}

    HostLoader& loader_;
    llvm::orc::JITDylib& dylib_;
    std::string kernel_symbol_;
    void* kernel_ = nullptr;
    host::ArgsEntryFn args_entry_ = nullptr;
    std::uint64_t static_shared_bytes_ = 0;
};

/// Thread-safety: thread-safe; loads and unloads are serialised. Objects must be destroyed
/// before their loader.
class HostLoader {
public:
    /// Throws HostLoadError when ORC cannot be set up for this CPU.
    HostLoader();
    ~HostLoader();
    HostLoader(const HostLoader&) = delete;
    HostLoader& operator=(const HostLoader&) = delete;

    /// Loads `artifact` (an object for this CPU under the host ABI) and finds its kernel, its
    /// argument-array entry and its shared-memory size. Throws HostLoadError, which names the
    /// kernel and what failed; nothing stays loaded then.
    std::unique_ptr<HostObject> load(const Artifact& artifact);

    /// Objects currently loaded.
    std::size_t loaded() const;

private:
    friend class HostObject;
    void unload(llvm::orc::JITDylib& dylib) noexcept;
    void* lookup_locked(llvm::orc::JITDylib& dylib, std::string_view symbol,
                        const std::string& kernel, const char* what);

    std::unique_ptr<llvm::orc::LLJIT> jit_;
    mutable std::mutex mutex_; // the LLJIT's dylibs: created, looked up in, removed
    std::uint64_t counter_ = 0;
    std::size_t loaded_ = 0;
};

} // namespace kcache
