#include "kernels/module_builder.hpp"

#include "core/dispatch.hpp"
#include "core/errors.hpp"
#include "kernels/front_end.hpp"
#include "kernels/type_names.hpp"
#include "targets/llvm/crash_recovery.hpp"
#include "targets/llvm/diagnostic_scope.hpp"
#include "targets/llvm/isolated_context.hpp"
#include "targets/target.hpp"
#include "targets/target_errors.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Linker/Linker.h>

#include <deque>
#include <unordered_map>
#include <unordered_set>

namespace kcache::kernels {

MethodInstance* TableResolver::dispatch(const Function& f, Type tt) {
    return method_instance(f, tt, *table_);
}

namespace {

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

// The state of one build, and the context its front ends see.
class Build final : public BuildContext {
public:
    // A specialisation requested for the module: named, typed, emitted once.
    struct Requested {
        const MethodInstance* mi = nullptr;
        const FrontEnd* front_end = nullptr;
        std::string symbol;
        llvm::FunctionType* type = nullptr;
        std::unique_ptr<Specialization> specialization; // until emitted
    };

    Build(llvm::LLVMContext& ctx, Resolver& resolver, TargetSpec spec)
        : ctx_(ctx), resolver_(resolver), spec_(std::move(spec)), target_(spec_.kind.target()) {}

    llvm::LLVMContext& llvm_context() const override { return ctx_; }
    const TargetSpec& spec() const override { return spec_; }
    const Target& target() const override { return target_; }

    Callee call(const Function& f, Type tt, const MethodInstance& caller) override {
        MethodInstance* callee = resolver_.dispatch(f, tt);
        if (!callee) {
            try {
                throw_method_error(f, tt, resolver_.table());
            } catch (const ArityError& e) {
                throw ArityError(std::string(e.what()) + " (called from " + caller.str() + ")",
                                 e.candidates());
            } catch (const MethodError& e) {
                throw MethodError(std::string(e.what()) + " (called from " + caller.str() + ")",
                                  e.candidates());
            }
        }
        resolver_.depend(*callee);
        const Requested& r = request(*callee);
        return {r.mi, r.symbol, r.type};
    }

    const Requested& request(const MethodInstance& mi, const std::string* entry_symbol = nullptr) {
        if (auto it = requested_.find(&mi); it != requested_.end())
            return *it->second;
        const Method& def = mi.def();
        const FrontEnd* front_end = FrontEndRegistry::find(def.source_type());
        if (!front_end)
            throw SourceTypeError("method " + def.str() + " has a source of type " +
                                  def.source_type().name() +
                                  ", which no registered front end compiles (registered: " +
                                  FrontEndRegistry::names() + ")");
        auto r = std::make_unique<Requested>();
        r->mi = &mi;
        r->symbol = entry_symbol
                        ? unique_symbol(*entry_symbol)
                        : unique_symbol(mi.function().name() + "." + mangle(mi.spec_types()));
        r->front_end = front_end;
        r->specialization = front_end->specialize(mi, *this);
        r->type = r->specialization->type();
        Requested& added = *requested_.emplace(&mi, std::move(r)).first->second;
        work_.push_back(&added);
        return added;
    }

    std::unique_ptr<llvm::Module> build(const MethodInstance& entry,
                                        const std::string& kernel_name) {
        kcache::detail::DiagnosticScope diags(ctx_);
        // Named after the method instance, which messages about the module (and crashes) quote.
        ModulePtr out(new llvm::Module(entry.str(), ctx_));
        request(entry, &kernel_name);
        const kcache::detail::CompileSubject subject{kernel_name, entry.str(), to_string(spec_)};
        while (!work_.empty()) {
            Requested& r = *work_.front();
            work_.pop_front();
            order_.push_back(r.mi);
            ModulePtr m = r.specialization->emit(*this, r.symbol);
            llvm::Function* fn = m ? m->getFunction(r.symbol) : nullptr;
            if (!fn || fn->isDeclaration() || fn->getFunctionType() != r.type)
                throw LoweringError("the " + std::string(r.front_end->name()) +
                                        " front end emitted no definition of @" + r.symbol +
                                        " with the type it announced for " + r.mi->str(),
                                    r.symbol);
            internalize_all_but(*m, *fn);
            verify_method(*m, *r.mi, r.symbol, spec_);
            r.specialization.reset(); // emitted: what it kept is not needed any more
            std::unique_ptr<llvm::Module> linked(m.release()); // the linker consumes it
            bool failed = false;
            kcache::detail::contain(&ctx_, "link", subject, [&] {
                failed = llvm::Linker::linkModules(*out, std::move(linked));
            });
            if (failed)
                throw LoweringError("linking " + r.mi->str() + " into the module of " +
                                        entry.str() + " failed: " + diags.errors(),
                                    r.symbol);
        }
        return std::unique_ptr<llvm::Module>(out.release());
    }

    const std::vector<const MethodInstance*>& emitted() const { return order_; }

private:
    std::string unique_symbol(const std::string& base) {
        std::string s = base;
        for (int i = 1; !symbols_.insert(s).second; ++i)
            s = base + "." + std::to_string(i);
        return s;
    }

    llvm::LLVMContext& ctx_;
    Resolver& resolver_;
    const TargetSpec spec_;
    const Target& target_;
    std::unordered_map<const MethodInstance*, std::unique_ptr<Requested>> requested_;
    std::deque<Requested*> work_;
    std::unordered_set<std::string> symbols_;
    std::vector<const MethodInstance*> order_;
};

} // namespace detail

ModuleBuilder::ModuleBuilder(llvm::LLVMContext& ctx, Resolver& resolver, TargetSpec spec)
    : build_(std::make_unique<detail::Build>(ctx, resolver, std::move(spec))) {}

ModuleBuilder::~ModuleBuilder() = default;

std::unique_ptr<llvm::Module> ModuleBuilder::build(const MethodInstance& entry,
                                                   const std::string& kernel_name) {
    return build_->build(entry, kernel_name);
}

std::vector<const MethodInstance*> ModuleBuilder::emitted() const {
    return build_->emitted();
}

} // namespace kcache::kernels
