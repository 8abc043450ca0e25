// A lowering back end for one kind of device (ORC/IREE-HAL style): three steps with a seam
// between them so that a cache can hash the prepared IR and skip the rest on a hit.
//
//   prepare(module, kernel, spec)  target triple/layout, kernel marking, internal linkage,
//                                  builtins (targets/builtins.hpp), device math; verified
//   optimize(module, spec)         new-pass-manager pipeline O0..O3 for the target machine
//   emit(module, spec)             code generation and final link -> Artifact
//
// The module must hold the kernel entry and every function it calls; it is modified in place.
// After a step throws, the module is in an unspecified (but destructible) state: discard it --
// except after a LoweringCrashError: LLVM crashed in the module's context (the crash was
// contained, targets/llvm/crash_recovery.hpp), and the context and its modules must then be neither
// used nor destroyed. Own contexts through an IsolatedContext (targets/llvm/isolated_context.hpp),
// which leaks such a context instead of destroying it.
// One LLVMContext per compilation: steps install a diagnostic handler on the module's context
// while they run, so a context must not be shared by compilations running at the same time.
#pragma once

#include "targets/address_spaces.hpp"
#include "targets/artifact.hpp"
#include "targets/llvm/crash_recovery.hpp"
#include "targets/target_spec.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llvm {
class Function;
class Module;
class TargetMachine;
class Type;
} // namespace llvm

namespace kcache {

/// What decides the bytes emit() produces besides the prepared module and the TargetSpec, and
/// what prepare() links in besides the methods' own IR: what a persistent cache must key on.
/// Thread-safety: a plain value.
struct Toolchain {
    std::string triple;       ///< the triple code is generated for
    std::string cpu;          ///< the target machine's CPU (the arch)
    std::string features;     ///< the target machine's feature string (host: this CPU's)
    std::string llvm_version; ///< LLVM_VERSION_STRING: parser, linker, passes and backends
    std::string tools;        ///< producers after LLVM and their versions ("lld 19.1.7")
    std::string libraries;    ///< bitcode prepare() links in, by content ("libdevice <digest>")

    friend bool operator==(const Toolchain&, const Toolchain&) = default;
};

/// A target: registered under its kind's name (targets/target_registry.hpp), it declares its
/// triple, archs, address-space map and artifact formats, and lowers modules.
/// Thread-safety: implementations are immutable after construction; any number of threads may
/// call any member at once, each on its own module (and LLVMContext).
class Target {
public:
    virtual ~Target() = default;

    /// The kind it is registered as.
    virtual TargetKind kind() const = 0;
    /// LLVM triple code is generated for.
    virtual std::string triple() const = 0;
    /// Architectures this build of LLVM can generate code for, sorted.
    virtual std::vector<std::string> supported_archs() const = 0;
    /// The arch an empty TargetSpec::arch stands for.
    virtual std::string default_arch() const = 0;
    /// The LLVM address spaces of the lattice's pointer spaces: what front ends lower
    /// `Ptr{T, space}` to, and what prepare() reads shared memory and builtins' pointers with.
    virtual AddressSpaceMap address_spaces() const = 0;
    /// Every value Artifact::format takes for this target ("ptx", "cubin"; "object"): what a
    /// device driver for it must load.
    virtual std::vector<std::string> artifact_formats() const = 0;

    /// `spec` with the default arch filled in. Throws UnknownArchError for an arch outside
    /// supported_archs(), InvalidArgumentError for another kind or an opt level outside 0..3.
    TargetSpec resolve(const TargetSpec& spec) const;

    /// Why this target cannot compile `f`, or an empty string: a used declaration of another
    /// target's intrinsic (llvm.nvvm.* on amdgpu, llvm.amdgcn.* on nvptx, ...) or of an `llvm.*`
    /// name that is no intrinsic of this LLVM; a definition that computes with a floating-point
    /// type the target cannot lower (fp128, x86_fp80, ppc_fp128 on GPUs). LLVM's backends end the
    /// process on such input, so prepare() rejects it up front; front ends call this to report it
    /// with their own context (the IR line). Other crashes of LLVM are contained, not predicted.
    std::string unsupported(const llvm::Function& f) const;

    /// Step 1; returns the time it took. Throws LoweringError (VerifierError for invalid IR,
    /// LoweringCrashError when LLVM crashed) or UnknownArchError. The kernel keeps its name.
    std::chrono::nanoseconds prepare(llvm::Module& m, std::string_view kernel,
                                     const TargetSpec& spec) const;
    /// Step 2 on a prepared module; returns the time it took. Throws LoweringCrashError.
    std::chrono::nanoseconds optimize(llvm::Module& m, const TargetSpec& spec) const;
    /// Step 3 on a prepared (and usually optimised) module; fills Artifact::times.emit.
    /// Throws CodegenError, LoweringCrashError.
    Artifact emit(llvm::Module& m, const TargetSpec& spec) const;

    /// All three steps, with all three times recorded.
    Artifact compile(llvm::Module& m, std::string_view kernel, const TargetSpec& spec) const;

    /// The toolchain `spec` compiles with (resolved first; throws as resolve does). Builds a
    /// target machine: callers that need it often keep it per spec.
    Toolchain toolchain(const TargetSpec& spec) const;

protected:
    /// For toolchain(): what turns LLVM's output into the artifact's bytes, with versions, or
    /// why it is absent (the bytes then differ); empty when LLVM alone produces them.
    virtual std::string tools() const { return {}; }
    /// For toolchain(): bitcode libraries prepare() links in, identified by content.
    virtual std::string libraries() const { return {}; }
    virtual std::unique_ptr<llvm::TargetMachine> target_machine(const TargetSpec& spec) const = 0;
    /// Target part of prepare: marks `kernel` as the entry, lowers builtins, links math. May
    /// replace the kernel function by one of the same name. Triple and data layout are set.
    virtual void lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const = 0;
    /// Whether emit's code generation produces assembly (PTX) rather than an object file.
    virtual bool emits_assembly() const { return false; }
    /// Target part of emit: turns codegen output into the artifact's format and bytes. Runs
    /// external tools (lld, nvJitLink) in recovery regions about `subject`.
    virtual void finish(std::vector<char> codegen_output, const TargetSpec& spec,
                        const detail::CompileSubject& subject, Artifact& artifact) const = 0;
    /// Whether the backend lowers values of the floating-point type `t`. GPUs: half, bfloat,
    /// float and double.
    virtual bool lowers_float(const llvm::Type& t) const;
    /// Whether `llvm.<prefix>.*` intrinsics are this target's own: the prefix LLVM gives the
    /// triple's architecture ("nvvm", "amdgcn", "x86").
    virtual bool own_intrinsic_prefix(std::string_view prefix) const;
};

/// Renames the kernel of a prepared module to `name`, together with what prepare() named after
/// it (globals and functions `<kernel>.kcache.*`), so that optimize and emit see the new name and
/// the artifact's kernel_symbol is it. Returns the name the kernel got (LLVM makes it unique if
/// `name` is taken). Throws InvalidArgumentError for a module that was not prepared.
std::string rename_prepared_kernel(llvm::Module& m, std::string_view name);

} // namespace kcache
