#include "targets/llvm/ir.hpp"

#include "targets/llvm/crash_recovery.hpp"
#include "targets/target_errors.hpp"

#include <llvm/AsmParser/Parser.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SourceMgr.h>

namespace kcache {

std::unique_ptr<llvm::Module> parse_ir(std::string_view text, llvm::LLVMContext& ctx,
                                       std::string_view name) {
    llvm::SMDiagnostic diag;
    // A copy: the lexer relies on a NUL terminator that a string_view does not promise.
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(text.data(), text.size()),
                                                       llvm::StringRef(name.data(), name.size()));
    std::unique_ptr<llvm::Module> m;
    detail::contain(&ctx, "parse", {"", std::string(name), ""},
                    [&] { m = llvm::parseAssembly(buffer->getMemBufferRef(), diag, ctx); });
    if (!m)
        throw IRParseError("cannot parse IR '" + std::string(name) +
                               "': " + diag.getMessage().str(),
                           diag.getLineNo(), diag.getColumnNo() + 1);
    return m;
}

} // namespace kcache
