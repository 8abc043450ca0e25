#include "kernels/module_builder.hpp"

#include "core/dispatch.hpp"
#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "kernels/errors.hpp"
#include "kernels/generator.hpp"
#include "kernels/ir_method.hpp"
#include "kernels/type_names.hpp"
#include "targets/builtins.hpp"
#include "targets/crash_recovery.hpp"
#include "targets/isolated_context.hpp"
#include "targets/target_errors.hpp"

#include <llvm/IR/DiagnosticHandler.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Support/raw_ostream.h>

#include <deque>
#include <typeindex>
#include <unordered_map>
#include <unordered_set>

namespace kcache::kernels {

MethodInstance* TableResolver::dispatch(const Function& f, Type tt) {
    return method_instance(f, tt, *table_);
}

namespace {

// Collects error diagnostics (the default handler exits the process on them) while alive.
class DiagnosticCapture {
public:
    explicit DiagnosticCapture(llvm::LLVMContext& ctx) : ctx_(ctx) {
        previous_ = ctx_.getDiagnosticHandler();
        ctx_.setDiagnosticHandler(std::make_unique<Handler>(errors_));
    }
    ~DiagnosticCapture() { ctx_.setDiagnosticHandler(std::move(previous_)); }
    DiagnosticCapture(const DiagnosticCapture&) = delete;
    DiagnosticCapture& operator=(const DiagnosticCapture&) = delete;

    std::string take() {
        std::string all;
        for (auto& e : errors_)
            all += (all.empty() ? "" : "\n") + e;
        errors_.clear();
        return all;
    }

private:
    struct Handler : llvm::DiagnosticHandler {
        explicit Handler(std::vector<std::string>& out) : out(out) {}
        bool handleDiagnostics(const llvm::DiagnosticInfo& di) override {
            if (di.getSeverity() == llvm::DS_Error) {
                std::string s;
                llvm::raw_string_ostream os(s);
                llvm::DiagnosticPrinterRawOStream printer(os);
                di.print(printer);
                out.push_back(std::move(s));
            }
            return true;
        }
        std::vector<std::string>& out;
    };
    llvm::LLVMContext& ctx_;
    std::unique_ptr<llvm::DiagnosticHandler> previous_;
    std::vector<std::string> errors_;
};

bool is_builtin_or_intrinsic(const llvm::Function& f) {
    return f.isIntrinsic() || f.getName().starts_with(builtins::kPrefix) ||
           f.getName().starts_with("llvm.");
}

// Everything but the method's own function stays private to it, so that helpers and shared
// globals of different methods never clash when linked.
void internalize_all_but(llvm::Module& m, llvm::Function& entry) {
    for (auto& f : m) {
        if (f.isDeclaration())
            continue;
        f.setComdat(nullptr);
        if (&f == &entry) {
            f.setLinkage(llvm::GlobalValue::ExternalLinkage);
            f.setVisibility(llvm::GlobalValue::DefaultVisibility);
        } else if (!f.hasLocalLinkage()) {
            f.setLinkage(llvm::GlobalValue::InternalLinkage);
        }
    }
    for (auto& g : m.globals())
        if (!g.isDeclaration() && !g.hasLocalLinkage()) {
            g.setComdat(nullptr);
            g.setLinkage(llvm::GlobalValue::InternalLinkage);
        }
}

} // namespace

namespace detail {

struct BuildState {
    struct Spec {
        const MethodInstance* mi = nullptr;
        std::string symbol;
        llvm::FunctionType* type = nullptr;
        // IR methods: parsed when the type is needed, consumed when emitted.
        ModulePtr parsed;
        std::string entry_name;
        Type returns; // generators
    };

    BuildState(llvm::LLVMContext& c, Resolver& r, TargetSpec s)
        : ctx(c), resolver(r), spec(std::move(s)) {}

    llvm::LLVMContext& ctx;
    Resolver& resolver;
    TargetSpec spec;
    std::unordered_map<const MethodInstance*, std::unique_ptr<Spec>> specs;
    std::deque<Spec*> work;
    std::unordered_set<std::string> symbols;
    std::vector<const MethodInstance*> order;

    std::string unique_symbol(std::string base) {
        std::string s = base;
        for (int i = 1; !symbols.insert(s).second; ++i)
            s = base + "." + std::to_string(i);
        return s;
    }

    Spec& request(const MethodInstance& mi, const std::string* entry_symbol = nullptr) {
        if (auto it = specs.find(&mi); it != specs.end())
            return *it->second;
        auto spec_ptr = std::make_unique<Spec>();
        Spec& s = *spec_ptr;
        s.mi = &mi;
        s.symbol = entry_symbol
                       ? unique_symbol(*entry_symbol)
                       : unique_symbol(mi.function().name() + "." + mangle(mi.spec_types()));
        const Method& def = mi.def();
        if (def.source_type() == std::type_index(typeid(LlvmIR))) {
            s.parsed = load_ir(def.source<LlvmIR>(), mi, spec, ctx, s.entry_name);
            s.type = s.parsed->getFunction(s.entry_name)->getFunctionType();
        } else if (def.source_type() == std::type_index(typeid(Generator))) {
            const Generator& g = def.source<Generator>();
            std::vector<llvm::Type*> params;
            for (Type t : mi.spec_types().elements())
                params.push_back(llvm_type(t, ctx));
            s.returns = g.returns ? substitute(g.returns, def.signature().type_vars(), mi.sparams())
                                  : Type();
            llvm::Type* ret = s.returns ? llvm_type(s.returns, ctx) : llvm::Type::getVoidTy(ctx);
            s.type = llvm::FunctionType::get(ret, params, false);
        } else {
            throw SourceTypeError("method " + def.str() + " has a source of type " +
                                  def.source_type().name() +
                                  ", which the kernel compiler cannot compile (it takes "
                                  "kernels::LlvmIR and kernels::Generator sources)");
        }
        specs.emplace(&mi, std::move(spec_ptr));
        work.push_back(&s);
        return s;
    }

    // A call of `f` with `tt` from `caller`: dispatch, dependency, emission request.
    Spec& call(const Function& f, Type tt, const MethodInstance& caller) {
        MethodInstance* callee = resolver.dispatch(f, tt);
        if (!callee) {
            try {
                throw_method_error(f, tt, resolver.table());
            } catch (const ArityError& e) {
                throw ArityError(std::string(e.what()) + " (called from " + caller.str() + ")",
                                 e.candidates());
            } catch (const MethodError& e) {
                throw MethodError(std::string(e.what()) + " (called from " + caller.str() + ")",
                                  e.candidates());
            }
        }
        resolver.depend(*callee);
        return request(*callee);
    }

    ModulePtr emit(Spec& s) { return s.parsed ? emit_ir(s) : emit_generated(s); }

    ModulePtr emit_ir(Spec& s) {
        ModulePtr m = std::move(s.parsed);
        const MethodInstance& mi = *s.mi;
        const LlvmIR& src = mi.def().source<LlvmIR>();
        const bool text = src.format == LlvmIR::Format::Text;
        auto line_of = [&](std::string_view sym) { return text ? symbol_line(src.code, sym) : 0; };
        llvm::Function* entry = m->getFunction(s.entry_name);

        // Resolve every generic-call declaration before renaming anything.
        std::vector<std::pair<llvm::Function*, Spec*>> calls;
        std::vector<llvm::Function*> unused;
        for (auto& f : *m) {
            if (!f.isDeclaration() || is_builtin_or_intrinsic(f))
                continue;
            if (f.use_empty()) { // declared but never called: nothing to dispatch
                unused.push_back(&f);
                continue;
            }
            const std::string name = f.getName().str();
            const std::string fname(generic_name(name));
            const std::string shown = excerpt(name); // messages quote names within bounds
            const Function* gf = Function::find(fname);
            if (!gf)
                throw IRConventionError("declaration @" + shown + " calls generic function '" +
                                            excerpt(fname) + "', which is not defined",
                                        mi.str(), name, line_of(name));
            llvm::MDNode* md = f.getMetadata("kcache.types");
            if (!md)
                throw IRConventionError(
                    "declaration @" + shown +
                        " lacks !kcache.types, the lattice types of its parameters "
                        "(e.g. declare !kcache.types !{!\"Float32\", !\"Ptr{Float32}\"} ...)",
                    mi.str(), name, line_of(name));
            auto* fty = f.getFunctionType();
            if (fty->isVarArg() || md->getNumOperands() != fty->getNumParams())
                throw IRConventionError("declaration @" + shown + " has " +
                                            std::to_string(fty->getNumParams()) +
                                            " parameters but !kcache.types lists " +
                                            std::to_string(md->getNumOperands()) + " types",
                                        mi.str(), name, line_of(name));
            std::vector<Type> types;
            for (unsigned i = 0; i < md->getNumOperands(); ++i) {
                auto* str = llvm::dyn_cast_or_null<llvm::MDString>(md->getOperand(i).get());
                if (!str)
                    throw IRConventionError("!kcache.types of @" + shown + ": entry " +
                                                std::to_string(i + 1) + " is not a string",
                                            mi.str(), name, line_of(name));
                Type t;
                llvm::Type* lowered = nullptr;
                try {
                    t = parse_type(str->getString().str());
                    if (!t.is_concrete())
                        throw KernelTypeError("type " + t.str() + " is not concrete");
                    lowered = llvm_type(t, ctx);
                } catch (const KernelTypeError& e) {
                    throw IRConventionError("!kcache.types of @" + shown + ": " + e.what(),
                                            mi.str(), name, line_of(name));
                }
                if (lowered != fty->getParamType(i))
                    throw IRConventionError("parameter " + std::to_string(i + 1) + " of @" + shown +
                                                " is " + llvm_type_str(fty->getParamType(i)) +
                                                ", but !kcache.types says " + t.str() +
                                                ", which lowers to " + llvm_type_str(lowered),
                                            mi.str(), name, line_of(name));
                types.push_back(t);
            }
            Spec& callee = call(*gf, Type::tuple(types), mi);
            if (callee.type != fty)
                throw IRConventionError("@" + shown + " is declared as `" + llvm_type_str(fty) +
                                            "` but " + callee.mi->str() + " has type `" +
                                            llvm_type_str(callee.type) + "`",
                                        mi.str(), name, line_of(name));
            calls.emplace_back(&f, &callee);
        }

        for (llvm::Function* f : unused)
            f->eraseFromParent();

        // Names: the entry gets its symbol, each declaration its callee's symbol; whatever
        // already holds such a name (a private helper) moves aside.
        std::unordered_set<llvm::Function*> renamed;
        auto claim = [&](llvm::Function& f, const std::string& symbol) -> llvm::Function* {
            if (f.getName() == symbol)
                return &f;
            if (llvm::GlobalValue* holder = m->getNamedValue(symbol)) {
                auto* fn = llvm::dyn_cast<llvm::Function>(holder);
                if (fn && renamed.count(fn))
                    return fn; // another declaration of the same callee
                holder->setName(symbol + ".local");
            }
            f.setName(symbol);
            return &f;
        };
        claim(*entry, s.symbol);
        renamed.insert(entry);
        for (auto [decl, callee] : calls) {
            llvm::Function* target = callee == &s ? entry : claim(*decl, callee->symbol);
            if (target != decl) {
                decl->replaceAllUsesWith(target);
                decl->eraseFromParent();
            } else {
                renamed.insert(decl);
                decl->eraseMetadata(decl->getContext().getMDKindID("kcache.types"));
            }
        }
        internalize_all_but(*m, *entry);
        verify_method(*m, mi, s.symbol, spec);
        return m;
    }

    ModulePtr emit_generated(Spec& s) {
        const MethodInstance& mi = *s.mi;
        ModulePtr m(new llvm::Module(mi.str(), ctx));
        auto* fn = llvm::Function::Create(s.type, llvm::GlobalValue::ExternalLinkage, s.symbol, *m);
        GenContext gen(*this, mi, *m, *fn, s.returns);
        try {
            mi.def().source<Generator>().body(gen);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw GeneratorError(mi.str(), e.what(), std::current_exception());
        } catch (...) {
            throw GeneratorError(mi.str(), "unknown exception", std::current_exception());
        }
        if (fn->isDeclaration())
            throw GeneratorError(mi.str(), "the generator left the function without a body",
                                 nullptr);
        internalize_all_but(*m, *fn);
        verify_method(*m, mi, s.symbol, spec);
        return m;
    }
};

} // namespace detail

const TargetSpec& GenContext::spec() const {
    return state_->spec;
}

llvm::LLVMContext& GenContext::context() const {
    return state_->ctx;
}

llvm::Type* GenContext::llvm_type(Type t) const {
    return kernels::llvm_type(t, state_->ctx);
}

llvm::Function* GenContext::callee(const Function& f, Type tt) {
    auto& callee = state_->call(f, tt, *mi_);
    if (callee.mi == mi_)
        return function_;
    llvm::GlobalValue* holder = module_->getNamedValue(callee.symbol);
    if (auto* fn = llvm::dyn_cast_or_null<llvm::Function>(holder);
        fn && fn->getFunctionType() == callee.type)
        return fn; // declared by an earlier call
    if (holder)    // something of the generator's own holds the name: it is private, move it
        holder->setName(callee.symbol + ".local");
    return llvm::Function::Create(callee.type, llvm::GlobalValue::ExternalLinkage, callee.symbol,
                                  *module_);
}

llvm::CallInst* GenContext::call(llvm::IRBuilder<>& b, const Function& f,
                                 std::span<const TypedValue> args) {
    std::vector<Type> types;
    std::vector<llvm::Value*> values;
    for (const auto& a : args) {
        types.push_back(a.type);
        values.push_back(a.value);
    }
    llvm::Function* fn = callee(f, Type::tuple(types));
    return b.CreateCall(fn, values);
}

llvm::CallInst* GenContext::call(llvm::IRBuilder<>& b, const Function& f,
                                 std::initializer_list<TypedValue> args) {
    return call(b, f, std::span<const TypedValue>(args.begin(), args.size()));
}

ModuleBuilder::ModuleBuilder(llvm::LLVMContext& ctx, Resolver& resolver, TargetSpec spec)
    : state_(std::make_unique<detail::BuildState>(ctx, resolver, std::move(spec))) {}

ModuleBuilder::~ModuleBuilder() = default;

std::unique_ptr<llvm::Module> ModuleBuilder::build(const MethodInstance& entry,
                                                   const std::string& kernel_name) {
    auto& st = *state_;
    DiagnosticCapture diags(st.ctx);
    // Named after the method instance, which messages about the module (and crashes) quote.
    ModulePtr out(new llvm::Module(entry.str(), st.ctx));
    st.request(entry, &kernel_name);
    const kcache::detail::CompileSubject subject{kernel_name, entry.str(), to_string(st.spec)};
    while (!st.work.empty()) {
        detail::BuildState::Spec* s = st.work.front();
        st.work.pop_front();
        st.order.push_back(s->mi);
        std::unique_ptr<llvm::Module> m(st.emit(*s).release()); // the linker consumes it
        bool failed = false;
        kcache::detail::contain(&st.ctx, "link", subject,
                                [&] { failed = llvm::Linker::linkModules(*out, std::move(m)); });
        if (failed)
            throw LoweringError("linking " + s->mi->str() + " into the module of " + entry.str() +
                                    " failed: " + diags.take(),
                                s->symbol);
    }
    return std::unique_ptr<llvm::Module>(out.release());
}

std::vector<const MethodInstance*> ModuleBuilder::emitted() const {
    return state_->order;
}

} // namespace kcache::kernels
