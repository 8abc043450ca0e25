// Routes an LLVMContext's error diagnostics into a list while alive: LLVM's default handler
// ends the process on an error diagnostic (a failed link, a backend error), so every step that
// may produce one runs inside a scope and reports what it collected as a typed error.
// Used by the targets and by the module builder (kernels/).
// Thread-safety: as the context, one thread at a time.
#pragma once

#include <llvm/IR/DiagnosticHandler.h>

#include <memory>
#include <string>
#include <vector>

namespace llvm {
class LLVMContext;
}

namespace kcache::detail {

/// Restores the previous handler on destruction. Warnings and remarks are dropped.
class DiagnosticScope {
public:
    explicit DiagnosticScope(llvm::LLVMContext& ctx);
    ~DiagnosticScope();
    DiagnosticScope(const DiagnosticScope&) = delete;
    DiagnosticScope& operator=(const DiagnosticScope&) = delete;

    bool has_errors() const { return !errors_->empty(); }
    /// All error diagnostics so far, one a line.
    std::string errors() const;

private:
    llvm::LLVMContext& ctx_;
    std::unique_ptr<llvm::DiagnosticHandler> previous_;
    std::shared_ptr<std::vector<std::string>> errors_;
};

} // namespace kcache::detail
