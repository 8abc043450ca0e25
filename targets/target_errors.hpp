// Typed errors of the lowering back end. Each says what was being lowered (function, arch, IR
// position) so the caller can report it without the module at hand.
// Thread-safety: immutable after construction, like every kcache::Error.
#pragma once

#include "core/errors.hpp"
#include "core/excerpt.hpp"

#include <string>
#include <vector>

namespace kcache {

/// A module that cannot be lowered for the asked target: invalid IR (the verifier's message names
/// the function), an unknown or misused builtin, a math function with no lowering on the target,
/// a backend or linker diagnostic.
class LoweringError : public Error {
public:
    explicit LoweringError(const std::string& what, std::string function = {})
        : Error(what), function_(std::move(function)) {}
    /// The function the problem was found in; empty when it concerns the whole module.
    const std::string& function() const { return function_; }

private:
    std::string function_;
};

/// IR that the module verifier rejects. `function()` names the offending function when known.
class VerifierError : public LoweringError {
public:
    using LoweringError::LoweringError;
};

/// LLVM crashed -- a fatal error such as "Cannot select", an abort, a fault -- while working on
/// a module, and the crash was contained (targets/llvm/crash_recovery.hpp): the compilation failed,
/// nothing was cached, the module and its context were abandoned, and the process goes on.
class LoweringCrashError : public LoweringError {
public:
    LoweringCrashError(std::string stage, std::string kernel, std::string module,
                       std::string target, std::string llvm_message, int signal)
        : LoweringError(make_message(stage, kernel, module, target, llvm_message), kernel),
          stage_(std::move(stage)), module_(std::move(module)), target_(std::move(target)),
          llvm_message_(std::move(llvm_message)), signal_(signal) {}
    /// What LLVM was doing: "parse", "verify", "link", "optimize", "codegen", "lld", "nvJitLink".
    const std::string& stage() const { return stage_; }
    /// The module's identifier: the method instance being compiled, "k(::Ptr{Float32})".
    const std::string& module() const { return module_; }
    /// "amdgpu:gfx90a:O2"; empty when no target was involved yet (reading IR).
    const std::string& target() const { return target_; }
    /// What LLVM said ("Cannot select: intrinsic %llvm.nvvm.sqrt.f"), or the signal.
    const std::string& llvm_message() const { return llvm_message_; }
    /// The signal that ended LLVM's work; 0 for a fatal error.
    int signal() const { return signal_; }

private:
    static std::string make_message(const std::string& stage, const std::string& kernel,
                                    const std::string& module, const std::string& target,
                                    const std::string& llvm_message) {
        std::string msg = "LLVM crashed in " + stage;
        if (!kernel.empty())
            msg += " of kernel @" + kernel;
        if (!module.empty())
            msg += " (" + module + ")";
        if (!target.empty())
            msg += " for " + target;
        // The first line: a "Cannot select" goes on with a dump of the selection DAG.
        const std::string first_line = llvm_message.substr(0, llvm_message.find('\n'));
        return msg + ": " + excerpt(first_line, 0, 2 * kExcerptBytes) +
               " [contained: nothing was cached]";
    }
    std::string stage_, module_, target_, llvm_message_;
    int signal_;
};

/// A target architecture the target does not know; the message lists the supported ones.
class UnknownArchError : public Error {
public:
    UnknownArchError(std::string target, std::string arch, std::vector<std::string> supported)
        : Error(make_message(target, arch, supported)), arch_(std::move(arch)),
          supported_(std::move(supported)) {}
    const std::string& arch() const { return arch_; }
    const std::vector<std::string>& supported() const { return supported_; }

private:
    static std::string make_message(const std::string& target, const std::string& arch,
                                    const std::vector<std::string>& supported) {
        std::string msg = "unknown " + target + " arch '" + excerpt(arch) + "'; supported:";
        for (const auto& a : supported)
            msg += " " + a;
        return msg;
    }
    std::string arch_;
    std::vector<std::string> supported_;
};

/// Textual IR that does not parse. Line and column are 1-based, as LLVM reports them.
class IRParseError : public Error {
public:
    IRParseError(const std::string& what, int line, int column)
        : Error(what + " (line " + std::to_string(line) + ", column " + std::to_string(column) +
                ")"),
          line_(line), column_(column) {}
    int line() const { return line_; }
    int column() const { return column_; }

private:
    int line_;
    int column_;
};

/// Code generation or the final link (lld, nvJitLink) failed; the message holds their log.
class CodegenError : public Error {
public:
    using Error::Error;
};

} // namespace kcache
