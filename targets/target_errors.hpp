// Typed errors of the lowering back end. Each says what was being lowered (function, arch, IR
// position) so the caller can report it without the module at hand.
// Thread-safety: immutable after construction, like every kcache::Error.
#pragma once

#include "core/errors.hpp"

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
        std::string msg = "unknown " + target + " arch '" + arch + "'; supported:";
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
