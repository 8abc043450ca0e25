#include "kernels/frontends/generator/generator.hpp"

#include "core/errors.hpp"
#include "kernels/errors.hpp"
#include "kernels/front_end.hpp"
#include "kernels/type_names.hpp"
#include "targets/target.hpp"

#include <llvm/IR/Module.h>

#include <algorithm>
#include <functional>
#include <vector>

namespace kcache::kernels {
namespace {

bool uses_only(Type t, std::span<const Type> vars) {
    switch (t.kind()) {
    case TypeKind::TypeVar:
        return std::find(vars.begin(), vars.end(), t) != vars.end();
    case TypeKind::Pointer:
        return uses_only(t.element(), vars);
    case TypeKind::Tuple:
        return std::all_of(t.elements().begin(), t.elements().end(),
                           [&](Type e) { return uses_only(e, vars); });
    default:
        return true;
    }
}

} // namespace

Method& add_generator(MethodTable& table, Function& f, Signature sig, GeneratorFn body,
                      Type returns, std::string version) {
    if (!body)
        throw InvalidArgumentError("add_generator(" + f.name() + "): empty generator");
    if (returns && !uses_only(returns, sig.type_vars()))
        throw InvalidSignatureError("generator " + sig.str(f.name()) + " returns " + returns.str() +
                                    ", which uses an unbound type variable");
    std::optional<Digest> digest;
    if (!version.empty())
        digest = DigestBuilder("kcache.generator.v1")
                     .add(version)
                     .add(f.name())
                     .add(sig.str(f.name()))
                     .add(returns ? returns.str() : std::string("Nothing"))
                     .add(table.name())
                     .finish();
    return add_method(table, f, std::move(sig),
                      Generator{std::move(body), returns, std::move(version), digest});
}

namespace detail {

// One generator method's specialisation: its type from the concrete argument types, its body
// from running the generator.
class GeneratorSpecialization final : public Specialization {
public:
    GeneratorSpecialization(const MethodInstance& mi, BuildContext& ctx)
        : mi_(mi), generator_(mi.def().source<Generator>()) {
        std::vector<llvm::Type*> params;
        for (Type t : mi.spec_types().elements())
            params.push_back(ctx.llvm_type(t));
        returns_ = generator_.returns ? substitute(generator_.returns,
                                                   mi.def().signature().type_vars(), mi.sparams())
                                      : Type();
        llvm::Type* ret =
            returns_ ? ctx.llvm_type(returns_) : llvm::Type::getVoidTy(ctx.llvm_context());
        type_ = llvm::FunctionType::get(ret, params, false);
    }

    llvm::FunctionType* type() const override { return type_; }

    ModulePtr emit(BuildContext& ctx, const std::string& symbol) override {
        ModulePtr m(new llvm::Module(mi_.str(), ctx.llvm_context()));
        auto* fn = llvm::Function::Create(type_, llvm::GlobalValue::ExternalLinkage, symbol, *m);
        GenContext gen(ctx, mi_, *m, *fn, returns_);
        try {
            generator_.body(gen);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw GeneratorError(mi_.str(), e.what(), std::current_exception());
        } catch (...) {
            throw GeneratorError(mi_.str(), "unknown exception", std::current_exception());
        }
        if (fn->isDeclaration())
            throw GeneratorError(mi_.str(), "the generator left the function without a body",
                                 nullptr);
        return m;
    }

private:
    const MethodInstance& mi_;
    const Generator& generator_;
    Type returns_;
    llvm::FunctionType* type_ = nullptr;
};

} // namespace detail

namespace {

class GeneratorFrontEnd final : public FrontEnd {
public:
    std::type_index source_type() const override { return typeid(Generator); }
    std::string_view name() const override { return "generator"; }
    const Digest* source_digest(const Method& method) const override {
        const auto& d = method.source<Generator>().digest;
        return d ? &*d : nullptr;
    }
    std::unique_ptr<Specialization> specialize(const MethodInstance& mi,
                                               BuildContext& ctx) const override {
        return std::make_unique<detail::GeneratorSpecialization>(mi, ctx);
    }
};

} // namespace

std::unique_ptr<FrontEnd> make_generator_front_end() {
    return std::make_unique<GeneratorFrontEnd>();
}

// --- GenContext --------------------------------------------------------------------------------

const TargetSpec& GenContext::spec() const {
    return build_->spec();
}

llvm::LLVMContext& GenContext::context() const {
    return build_->llvm_context();
}

unsigned GenContext::address_space(AddressSpace space) const {
    return build_->target().address_spaces()[space];
}

llvm::Type* GenContext::llvm_type(Type t) const {
    return build_->llvm_type(t);
}

llvm::Function* GenContext::callee(const Function& f, Type tt) {
    const Callee callee = build_->call(f, tt, *mi_);
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

} // namespace kcache::kernels
