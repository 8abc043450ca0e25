// Textual LLVM IR in, module out, with parse failures as typed errors. For front ends and tests.
// Thread-safety: safe to call concurrently with distinct contexts.
#pragma once

#include <memory>
#include <string_view>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kcache {

/// Parses `text` into a module in `ctx`. Throws IRParseError with LLVM's message, line and column,
/// LoweringCrashError when the parser crashed (then `ctx` is abandoned). The module is not
/// verified here; Target::prepare does that.
std::unique_ptr<llvm::Module> parse_ir(std::string_view text, llvm::LLVMContext& ctx,
                                       std::string_view name = "kernel");

} // namespace kcache
