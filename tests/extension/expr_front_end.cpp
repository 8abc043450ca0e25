#include "expr_front_end.hpp"

#include "core/errors.hpp"
#include "core/method_instance.hpp"
#include "kernels/front_end.hpp"
#include "kernels/frontends/generator/emit.hpp"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <mutex>

namespace kcache::test::expr {
namespace {

Expr node(Node n) {
    return std::make_shared<const Node>(std::move(n));
}

// One specialisation: its function type from the method instance's types, its body from the
// expression.
class ExprSpecialization final : public kernels::Specialization {
public:
    ExprSpecialization(const MethodInstance& mi, kernels::BuildContext& ctx)
        : mi_(mi), src_(mi.def().source<ExprSource>()) {
        const auto types = mi.spec_types().elements();
        std::vector<llvm::Type*> params;
        for (Type t : types)
            params.push_back(ctx.llvm_type(t));
        if (types.empty())
            fail("has no parameters");
        value_type_ = src_.kernel ? types[0].element() : types[0];
        if (src_.kernel && (types[0].kind() != TypeKind::Pointer || types.size() < 2 ||
                            types.back() != types::Int32()))
            fail("is a kernel but not k(out::Ptr{T}, ..., n::Int32)");
        llvm::Type* ret =
            src_.kernel ? llvm::Type::getVoidTy(ctx.llvm_context()) : ctx.llvm_type(value_type_);
        type_ = llvm::FunctionType::get(ret, params, false);
    }

    llvm::FunctionType* type() const override { return type_; }

    ModulePtr emit(kernels::BuildContext& ctx, const std::string& symbol) override {
        ModulePtr m(new llvm::Module(mi_.str(), ctx.llvm_context()));
        llvm::Function* fn =
            llvm::Function::Create(type_, llvm::GlobalValue::ExternalLinkage, symbol, *m);
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx.llvm_context(), "entry", fn));
        if (!src_.kernel) {
            b.CreateRet(eval(ctx, b, *m, *fn, *src_.body, nullptr));
            return m;
        }
        llvm::Value* i = kernels::emit::global_id(b);
        llvm::Value* n = fn->getArg(fn->arg_size() - 1);
        kernels::emit::if_then(b, b.CreateICmpSLT(i, n), [&] {
            llvm::Value* v = eval(ctx, b, *m, *fn, *src_.body, i);
            kernels::emit::store(b, v, fn->getArg(0), i);
        });
        b.CreateRetVoid();
        return m;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw InvalidArgumentError("expression method " + mi_.str() + " " + what);
    }

    llvm::Value* eval(kernels::BuildContext& ctx, llvm::IRBuilder<>& b, llvm::Module& m,
                      llvm::Function& fn, const Node& e, llvm::Value* index) {
        llvm::Type* ty = ctx.llvm_type(value_type_);
        switch (e.kind) {
        case Node::Const:
            return llvm::ConstantFP::get(ty, e.value);
        case Node::Arg: {
            const auto types = mi_.spec_types().elements();
            if (e.index < 0 || std::size_t(e.index) >= types.size())
                fail("uses argument " + std::to_string(e.index) + " of " +
                     std::to_string(types.size()));
            llvm::Value* a = fn.getArg(unsigned(e.index));
            const Type t = types[std::size_t(e.index)];
            if (t.kind() == TypeKind::Pointer) {
                if (!index)
                    fail("reads a pointer outside a kernel");
                return kernels::emit::load(b, ty, a, index);
            }
            if (t == value_type_)
                return a;
            if (t == types::Int32())
                return b.CreateSIToFP(a, ty);
            fail("uses argument " + std::to_string(e.index) + " of type " + t.str());
        }
        case Node::Add:
            return b.CreateFAdd(eval(ctx, b, m, fn, *e.operands.at(0), index),
                                eval(ctx, b, m, fn, *e.operands.at(1), index));
        case Node::Mul:
            return b.CreateFMul(eval(ctx, b, m, fn, *e.operands.at(0), index),
                                eval(ctx, b, m, fn, *e.operands.at(1), index));
        case Node::Call: {
            std::vector<llvm::Value*> values;
            for (const Expr& o : e.operands)
                values.push_back(eval(ctx, b, m, fn, *o, index));
            const std::vector<Type> tt(values.size(), value_type_);
            const kernels::Callee callee =
                ctx.call(Function::named(e.callee), Type::tuple(tt), mi_);
            if (callee.mi == &mi_)
                return b.CreateCall(&fn, values);
            llvm::Function* decl = m.getFunction(callee.symbol);
            if (!decl)
                decl = llvm::Function::Create(callee.type, llvm::GlobalValue::ExternalLinkage,
                                              callee.symbol, m);
            return b.CreateCall(decl, values);
        }
        }
        fail("holds an unknown node");
    }

    const MethodInstance& mi_;
    const ExprSource& src_;
    Type value_type_;
    llvm::FunctionType* type_ = nullptr;
};

class ExprFrontEnd final : public kernels::FrontEnd {
public:
    std::type_index source_type() const override { return typeid(ExprSource); }
    std::string_view name() const override { return "expression"; }
    const kernels::Digest* source_digest(const Method& method) const override {
        const auto& d = method.source<ExprSource>().digest;
        return d ? &*d : nullptr;
    }
    std::unique_ptr<kernels::Specialization> specialize(const MethodInstance& mi,
                                                        kernels::BuildContext& ctx) const override {
        return std::make_unique<ExprSpecialization>(mi, ctx);
    }
};

Method& add(MethodTable& table, Function& f, Signature sig, Expr body, bool kernel) {
    ExprSource src{std::move(body), kernel, std::nullopt};
    src.digest = kernels::DigestBuilder("kcache.test.expr.v1")
                     .add(f.name())
                     .add(sig.str(f.name()))
                     .add(kernel ? "kernel" : "function")
                     .add(show(src.body))
                     .finish();
    return add_method(table, f, std::move(sig), std::move(src));
}

} // namespace

Expr constant(double v) {
    return node({Node::Const, v, 0, "", {}});
}
Expr arg(int index) {
    return node({Node::Arg, 0, index, "", {}});
}
Expr operator+(Expr a, Expr b) {
    return node({Node::Add, 0, 0, "", {std::move(a), std::move(b)}});
}
Expr operator*(Expr a, Expr b) {
    return node({Node::Mul, 0, 0, "", {std::move(a), std::move(b)}});
}
Expr call(std::string function, std::vector<Expr> operands) {
    return node({Node::Call, 0, 0, std::move(function), std::move(operands)});
}

std::string show(const Expr& e) {
    switch (e->kind) {
    case Node::Const:
        return std::to_string(e->value);
    case Node::Arg:
        return "x" + std::to_string(e->index);
    case Node::Add:
        return "(" + show(e->operands[0]) + " + " + show(e->operands[1]) + ")";
    case Node::Mul:
        return show(e->operands[0]) + "*" + show(e->operands[1]);
    case Node::Call: {
        std::string s = e->callee + "(";
        for (std::size_t i = 0; i < e->operands.size(); ++i)
            s += (i ? ", " : "") + show(e->operands[i]);
        return s + ")";
    }
    }
    return "?";
}

Method& add_function(MethodTable& table, Function& f, Signature sig, Expr body) {
    return add(table, f, std::move(sig), std::move(body), false);
}
Method& add_kernel(MethodTable& table, Function& f, Signature sig, Expr body) {
    return add(table, f, std::move(sig), std::move(body), true);
}

std::unique_ptr<kernels::FrontEnd> make_front_end() {
    return std::make_unique<ExprFrontEnd>();
}

void register_front_end() {
    static std::once_flag once;
    std::call_once(once, [] { kernels::FrontEndRegistry::add(make_front_end()); });
}

} // namespace kcache::test::expr
