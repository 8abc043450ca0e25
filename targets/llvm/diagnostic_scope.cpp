#include "targets/llvm/diagnostic_scope.hpp"

#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/Support/raw_ostream.h>

namespace kcache::detail {
namespace {

class CollectingHandler : public llvm::DiagnosticHandler {
public:
    explicit CollectingHandler(std::shared_ptr<std::vector<std::string>> errors)
        : errors_(std::move(errors)) {}
    bool handleDiagnostics(const llvm::DiagnosticInfo& di) override {
        if (di.getSeverity() != llvm::DS_Error)
            return true; // warnings and remarks are dropped, not printed
        std::string msg;
        llvm::raw_string_ostream os(msg);
        llvm::DiagnosticPrinterRawOStream printer(os);
        di.print(printer);
        errors_->push_back(std::move(msg));
        return true;
    }

private:
    std::shared_ptr<std::vector<std::string>> errors_;
};

} // namespace

DiagnosticScope::DiagnosticScope(llvm::LLVMContext& ctx)
    : ctx_(ctx), previous_(ctx.getDiagnosticHandler()),
      errors_(std::make_shared<std::vector<std::string>>()) {
    ctx_.setDiagnosticHandler(std::make_unique<CollectingHandler>(errors_));
}

DiagnosticScope::~DiagnosticScope() {
    ctx_.setDiagnosticHandler(std::move(previous_));
}

std::string DiagnosticScope::errors() const {
    std::string all;
    for (const auto& e : *errors_)
        all += (all.empty() ? "" : "\n") + e;
    return all;
}

} // namespace kcache::detail
