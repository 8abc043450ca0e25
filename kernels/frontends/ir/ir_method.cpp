#include "kernels/frontends/ir/ir_method.hpp"

#include "core/excerpt.hpp"
#include "core/method_instance.hpp"
#include "kernels/errors.hpp"
#include "kernels/front_end.hpp"
#include "kernels/type_names.hpp"
#include "targets/builtins.hpp"
#include "targets/llvm/crash_recovery.hpp"
#include "targets/llvm/ir.hpp"
#include "targets/target.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <unordered_set>
#include <utility>
#include <vector>

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

namespace {

bool is_builtin_or_intrinsic(const llvm::Function& f) {
    return f.isIntrinsic() || f.getName().starts_with(builtins::kPrefix) ||
           f.getName().starts_with("llvm.");
}

// Parses the method's IR (IRParseError, or IRConventionError for bad bitcode), verifies it
// (VerifierError), checks that the target can take it (IRConventionError) and that the entry's
// parameters are the method instance's types, and returns the module. LLVM runs in recovery
// regions: LoweringCrashError when it crashes.
ModulePtr load_ir(const LlvmIR& src, const MethodInstance& mi, BuildContext& ctx,
                  std::string& entry_name) {
    const std::string where = mi.str();
    llvm::LLVMContext& llctx = ctx.llvm_context();
    ModulePtr m;
    if (src.format == LlvmIR::Format::Text) {
        m.reset(parse_ir(src.code, llctx, where).release());
    } else {
        auto buffer = llvm::MemoryBufferRef(llvm::StringRef(src.code), where);
        std::string error;
        kcache::detail::contain(&llctx, "parse", {"", where, ""}, [&] {
            auto parsed = llvm::parseBitcodeFile(buffer, llctx);
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
    detail::verify_method(*m, mi, entry_name, ctx.spec());

    for (const auto& f : *m)
        if (std::string why = ctx.target().unsupported(f); !why.empty())
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
        llvm::Type* want = ctx.llvm_type(params[i]);
        if (fty->getParamType(i) != want)
            throw IRConventionError("parameter " + std::to_string(i + 1) + " of entry @" +
                                        entry_name + " is " + llvm_type_str(fty->getParamType(i)) +
                                        ", but " + params[i].str() + " lowers to " +
                                        llvm_type_str(want) + " on " +
                                        std::string(to_string(ctx.spec().kind)),
                                    where, entry_name, line_of(entry_name));
    }
    return m;
}

// One IR method's specialisation: parsed when its type is asked for, resolved when emitted.
class IRSpecialization final : public Specialization {
public:
    IRSpecialization(const MethodInstance& mi, BuildContext& ctx)
        : mi_(mi), src_(mi.def().source<LlvmIR>()), parsed_(load_ir(src_, mi, ctx, entry_name_)),
          type_(parsed_->getFunction(entry_name_)->getFunctionType()) {}

    llvm::FunctionType* type() const override { return type_; }

    ModulePtr emit(BuildContext& ctx, const std::string& symbol) override {
        ModulePtr m = std::move(parsed_);
        const bool text = src_.format == LlvmIR::Format::Text;
        auto line_of = [&](std::string_view sym) { return text ? symbol_line(src_.code, sym) : 0; };
        llvm::Function* entry = m->getFunction(entry_name_);

        // Resolve every generic-call declaration before renaming anything.
        std::vector<std::pair<llvm::Function*, Callee>> calls;
        std::vector<llvm::Function*> unused;
        for (auto& f : *m) {
            if (!f.isDeclaration() || is_builtin_or_intrinsic(f))
                continue;
            if (f.use_empty()) { // declared but never called: nothing to dispatch
                unused.push_back(&f);
                continue;
            }
            calls.emplace_back(&f, resolve_call(ctx, f, line_of));
        }

        for (llvm::Function* f : unused)
            f->eraseFromParent();

        // Names: the entry gets its symbol, each declaration its callee's symbol; whatever
        // already holds such a name (a private helper) moves aside.
        std::unordered_set<llvm::Function*> renamed;
        auto claim = [&](llvm::Function& f, const std::string& name) -> llvm::Function* {
            if (f.getName() == name)
                return &f;
            if (llvm::GlobalValue* holder = m->getNamedValue(name)) {
                auto* fn = llvm::dyn_cast<llvm::Function>(holder);
                if (fn && renamed.count(fn))
                    return fn; // another declaration of the same callee
                holder->setName(name + ".local");
            }
            f.setName(name);
            return &f;
        };
        claim(*entry, symbol);
        renamed.insert(entry);
        for (auto& [decl, callee] : calls) {
            llvm::Function* target = callee.mi == &mi_ ? entry : claim(*decl, callee.symbol);
            if (target != decl) {
                decl->replaceAllUsesWith(target);
                decl->eraseFromParent();
            } else {
                renamed.insert(decl);
                decl->eraseMetadata(decl->getContext().getMDKindID("kcache.types"));
            }
        }
        return m;
    }

private:
    // The callee a generic-call declaration names, dispatched through the build.
    template <class LineOf>
    Callee resolve_call(BuildContext& ctx, llvm::Function& f, const LineOf& line_of) {
        const std::string where = mi_.str();
        const std::string name = f.getName().str();
        const std::string fname(generic_name(name));
        const std::string shown = excerpt(name); // messages quote names within bounds
        const Function* gf = Function::find(fname);
        if (!gf)
            throw IRConventionError("declaration @" + shown + " calls generic function '" +
                                        excerpt(fname) + "', which is not defined",
                                    where, name, line_of(name));
        llvm::MDNode* md = f.getMetadata("kcache.types");
        if (!md)
            throw IRConventionError(
                "declaration @" + shown +
                    " lacks !kcache.types, the lattice types of its parameters "
                    "(e.g. declare !kcache.types !{!\"Float32\", !\"Ptr{Float32}\"} ...)",
                where, name, line_of(name));
        auto* fty = f.getFunctionType();
        if (fty->isVarArg() || md->getNumOperands() != fty->getNumParams())
            throw IRConventionError("declaration @" + shown + " has " +
                                        std::to_string(fty->getNumParams()) +
                                        " parameters but !kcache.types lists " +
                                        std::to_string(md->getNumOperands()) + " types",
                                    where, name, line_of(name));
        std::vector<Type> types;
        for (unsigned i = 0; i < md->getNumOperands(); ++i) {
            auto* str = llvm::dyn_cast_or_null<llvm::MDString>(md->getOperand(i).get());
            if (!str)
                throw IRConventionError("!kcache.types of @" + shown + ": entry " +
                                            std::to_string(i + 1) + " is not a string",
                                        where, name, line_of(name));
            Type t;
            llvm::Type* lowered = nullptr;
            try {
                t = parse_type(str->getString().str());
                if (!t.is_concrete())
                    throw KernelTypeError("type " + t.str() + " is not concrete");
                lowered = ctx.llvm_type(t);
            } catch (const KernelTypeError& e) {
                throw IRConventionError("!kcache.types of @" + shown + ": " + e.what(), where, name,
                                        line_of(name));
            }
            if (lowered != fty->getParamType(i))
                throw IRConventionError("parameter " + std::to_string(i + 1) + " of @" + shown +
                                            " is " + llvm_type_str(fty->getParamType(i)) +
                                            ", but !kcache.types says " + t.str() +
                                            ", which lowers to " + llvm_type_str(lowered),
                                        where, name, line_of(name));
            types.push_back(t);
        }
        Callee callee = ctx.call(*gf, Type::tuple(types), mi_);
        if (callee.type != fty)
            throw IRConventionError("@" + shown + " is declared as `" + llvm_type_str(fty) +
                                        "` but " + callee.mi->str() + " has type `" +
                                        llvm_type_str(callee.type) + "`",
                                    where, name, line_of(name));
        return callee;
    }

    const MethodInstance& mi_;
    const LlvmIR& src_;
    std::string entry_name_;
    ModulePtr parsed_; // consumed by emit
    llvm::FunctionType* type_;
};

class IRFrontEnd final : public FrontEnd {
public:
    std::type_index source_type() const override { return typeid(LlvmIR); }
    std::string_view name() const override { return "LLVM IR"; }
    const Digest* source_digest(const Method& method) const override {
        const auto& d = method.source<LlvmIR>().digest;
        return d ? &*d : nullptr;
    }
    std::unique_ptr<Specialization> specialize(const MethodInstance& mi,
                                               BuildContext& ctx) const override {
        return std::make_unique<IRSpecialization>(mi, ctx);
    }
};

} // namespace

std::unique_ptr<FrontEnd> make_ir_front_end() {
    return std::make_unique<IRFrontEnd>();
}

} // namespace kcache::kernels
