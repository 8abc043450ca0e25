#include "kernels/ir_method.hpp"

#include "core/excerpt.hpp"
#include "core/method_instance.hpp"
#include "kernels/errors.hpp"
#include "kernels/type_names.hpp"
#include "targets/crash_recovery.hpp"
#include "targets/ir.hpp"
#include "targets/target.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

namespace kcache::kernels {

Method& add_ir_method(MethodTable& table, Function& f, Signature sig, LlvmIR source) {
    if (!sig.type_vars().empty())
        throw InvalidSignatureError("IR method " + sig.str(f.name()) +
                                    ": IR is written for one concrete signature (no type vars)");
    for (Type t : sig.params())
        if (!t.is_concrete())
            throw InvalidSignatureError("IR method " + sig.str(f.name()) + ": parameter type " +
                                        t.str() + " is not concrete");
    if (source.code.empty())
        throw InvalidArgumentError("IR method " + sig.str(f.name()) + ": empty IR");
    source.digest = DigestBuilder("kcache.ir-method.v1")
                        .add(f.name())
                        .add(sig.str(f.name()))
                        .add(source.format == LlvmIR::Format::Text ? "text" : "bitcode")
                        .add(source.entry)
                        .add(source.code)
                        .finish();
    return add_method(table, f, std::move(sig), std::move(source));
}

std::string_view generic_name(std::string_view symbol) {
    return symbol.substr(0, symbol.find('$'));
}

int symbol_line(std::string_view text, std::string_view symbol) {
    const std::string plain = "@" + std::string(symbol) + "(";
    const std::string quoted = "@\"" + std::string(symbol) + "\"(";
    int line = 1;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('\n', start);
        std::string_view l = text.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start);
        auto first = l.find_first_not_of(" \t");
        if (first != std::string_view::npos) {
            auto body = l.substr(first);
            if ((body.starts_with("declare") || body.starts_with("define")) &&
                (l.find(plain) != std::string_view::npos ||
                 l.find(quoted) != std::string_view::npos))
                return line;
        }
        if (end == std::string_view::npos)
            break;
        start = end + 1;
        ++line;
    }
    return 0;
}

namespace detail {

void verify_method(llvm::Module& m, const MethodInstance& mi, const std::string& symbol,
                   const TargetSpec& spec) {
    kcache::detail::contain(&m.getContext(), "verify", {symbol, mi.str(), to_string(spec)}, [&] {
        std::string msg;
        llvm::raw_string_ostream os(msg);
        if (llvm::verifyModule(m, &os))
            throw VerifierError("IR of " + mi.str() + " fails verification: " + msg, symbol);
    });
}

ModulePtr load_ir(const LlvmIR& src, const MethodInstance& mi, const TargetSpec& spec,
                  llvm::LLVMContext& ctx, std::string& entry_name) {
    const std::string where = mi.str();
    ModulePtr m;
    if (src.format == LlvmIR::Format::Text) {
        m.reset(parse_ir(src.code, ctx, where).release());
    } else {
        auto buffer = llvm::MemoryBufferRef(llvm::StringRef(src.code), where);
        std::string error;
        kcache::detail::contain(&ctx, "parse", {"", where, ""}, [&] {
            auto parsed = llvm::parseBitcodeFile(buffer, ctx);
            if (parsed)
                m.reset(parsed->release());
            else
                error = llvm::toString(parsed.takeError());
        });
        if (!m)
            throw IRConventionError("cannot read bitcode: " + error, where, "", 0);
    }
    m->setModuleIdentifier(where);

    entry_name = src.entry.empty() ? mi.function().name() : src.entry;
    const bool text = src.format == LlvmIR::Format::Text;
    auto line_of = [&](std::string_view sym) { return text ? symbol_line(src.code, sym) : 0; };
    llvm::Function* entry = m->getFunction(entry_name);
    if (!entry || entry->isDeclaration())
        throw IRConventionError("the IR does not define the entry function @" + excerpt(entry_name),
                                where, entry_name, line_of(entry_name));
    // Everything below walks the IR: only IR the verifier accepts.
    verify_method(*m, mi, entry_name, spec);

    const Target& target = target_for(spec.kind);
    for (const auto& f : *m)
        if (std::string why = target.unsupported(f); !why.empty())
            throw IRConventionError(why, where, f.getName().str(), line_of(f.getName()));

    auto params = mi.spec_types().elements();
    auto* fty = entry->getFunctionType();
    if (fty->isVarArg() || fty->getNumParams() != params.size())
        throw IRConventionError("entry @" + entry_name + " takes " +
                                    std::to_string(fty->getNumParams()) +
                                    (fty->isVarArg() ? "+ (varargs)" : "") + " parameters; " +
                                    mi.def().str() + " takes " + std::to_string(params.size()),
                                where, entry_name, line_of(entry_name));
    for (std::size_t i = 0; i < params.size(); ++i) {
        llvm::Type* want = llvm_type(params[i], ctx);
        if (fty->getParamType(i) != want)
            throw IRConventionError("parameter " + std::to_string(i + 1) + " of entry @" +
                                        entry_name + " is " + llvm_type_str(fty->getParamType(i)) +
                                        ", but " + params[i].str() + " lowers to " +
                                        llvm_type_str(want),
                                    where, entry_name, line_of(entry_name));
    }
    return m;
}

} // namespace detail
} // namespace kcache::kernels
