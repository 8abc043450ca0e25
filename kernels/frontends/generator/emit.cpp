#include "kernels/frontends/generator/emit.hpp"

#include "kernels/errors.hpp"
#include "kernels/frontends/generator/generator.hpp"
#include "kernels/type_names.hpp"

#include <llvm/IR/Module.h>

namespace kcache::kernels::emit {
namespace {

llvm::Module& module_of(llvm::IRBuilder<>& b) {
    return *b.GetInsertBlock()->getModule();
}

llvm::FunctionCallee builtin(llvm::IRBuilder<>& b, const std::string& name, llvm::Type* ret,
                             llvm::ArrayRef<llvm::Type*> params) {
    return module_of(b).getOrInsertFunction(name, llvm::FunctionType::get(ret, params, false));
}

std::string suffix(llvm::Type* t) {
    if (t->isFloatTy())
        return "f32";
    if (t->isDoubleTy())
        return "f64";
    if (t->isIntegerTy(32))
        return "i32";
    throw KernelTypeError("builtins take float, double (atomic_add also i32), not " +
                          llvm_type_str(t));
}

} // namespace

llvm::Value* index(llvm::IRBuilder<>& b, builtins::IndexKind kind, int dim) {
    static const char* const kinds[] = {"thread_idx", "block_idx", "block_dim", "grid_dim"};
    static const char* const dims[] = {"x", "y", "z"};
    std::string name =
        std::string(builtins::kPrefix) + kinds[static_cast<int>(kind)] + "." + dims[dim];
    return b.CreateCall(builtin(b, name, b.getInt32Ty(), {}));
}

llvm::Value* thread_idx(llvm::IRBuilder<>& b, int dim) {
    return index(b, builtins::IndexKind::ThreadIdx, dim);
}
llvm::Value* block_idx(llvm::IRBuilder<>& b, int dim) {
    return index(b, builtins::IndexKind::BlockIdx, dim);
}
llvm::Value* block_dim(llvm::IRBuilder<>& b, int dim) {
    return index(b, builtins::IndexKind::BlockDim, dim);
}
llvm::Value* grid_dim(llvm::IRBuilder<>& b, int dim) {
    return index(b, builtins::IndexKind::GridDim, dim);
}

llvm::Value* global_id(llvm::IRBuilder<>& b, int dim) {
    return b.CreateAdd(b.CreateMul(block_idx(b, dim), block_dim(b, dim)), thread_idx(b, dim));
}

llvm::Value* grid_size(llvm::IRBuilder<>& b, int dim) {
    return b.CreateMul(block_dim(b, dim), grid_dim(b, dim));
}

void barrier(llvm::IRBuilder<>& b) {
    b.CreateCall(builtin(b, std::string(builtins::kPrefix) + "barrier", b.getVoidTy(), {}));
}

llvm::Value* math(llvm::IRBuilder<>& b, builtins::MathOp op, llvm::ArrayRef<llvm::Value*> args) {
    llvm::Type* t = args.front()->getType();
    std::vector<llvm::Type*> params(args.size(), t);
    std::string name =
        std::string(builtins::kPrefix) + std::string(builtins::name(op)) + "." + suffix(t);
    return b.CreateCall(builtin(b, name, t, params), args);
}

llvm::Value* atomic_add(llvm::IRBuilder<>& b, llvm::Value* ptr, llvm::Value* v) {
    llvm::Type* t = v->getType();
    std::string name = std::string(builtins::kPrefix) + "atomic_add." + suffix(t);
    return b.CreateCall(builtin(b, name, t, {ptr->getType(), t}), {ptr, v});
}

llvm::Value* element_ptr(llvm::IRBuilder<>& b, llvm::Type* elem, llvm::Value* base,
                         llvm::Value* i) {
    return b.CreateGEP(elem, base, b.CreateSExt(i, b.getInt64Ty()));
}

llvm::Value* load(llvm::IRBuilder<>& b, llvm::Type* elem, llvm::Value* base, llvm::Value* i) {
    return b.CreateLoad(elem, element_ptr(b, elem, base, i));
}

void store(llvm::IRBuilder<>& b, llvm::Value* v, llvm::Value* base, llvm::Value* i) {
    b.CreateStore(v, element_ptr(b, v->getType(), base, i));
}

llvm::GlobalVariable* shared_array(GenContext& g, llvm::Type* elem, std::uint64_t count,
                                   const std::string& name) {
    auto* ty = llvm::ArrayType::get(elem, count);
    auto* array = new llvm::GlobalVariable(
        g.module(), ty, false, llvm::GlobalValue::InternalLinkage, llvm::UndefValue::get(ty), name,
        nullptr, llvm::GlobalValue::NotThreadLocal, g.address_space(AddressSpace::Shared));
    array->setAlignment(llvm::Align(16));
    return array;
}

void if_then(llvm::IRBuilder<>& b, llvm::Value* cond, const std::function<void()>& then) {
    llvm::Function* fn = b.GetInsertBlock()->getParent();
    auto& ctx = b.getContext();
    auto* then_bb = llvm::BasicBlock::Create(ctx, "then", fn);
    auto* cont = llvm::BasicBlock::Create(ctx, "endif", fn);
    b.CreateCondBr(cond, then_bb, cont);
    b.SetInsertPoint(then_bb);
    then();
    b.CreateBr(cont);
    b.SetInsertPoint(cont);
}

Values while_loop(llvm::IRBuilder<>& b, const Values& init,
                  const std::function<llvm::Value*(const Values&)>& cond,
                  const std::function<Values(const Values&)>& body) {
    llvm::Function* fn = b.GetInsertBlock()->getParent();
    auto& ctx = b.getContext();
    llvm::BasicBlock* pre = b.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx, "loop", fn);
    auto* body_bb = llvm::BasicBlock::Create(ctx, "body", fn);
    auto* exit = llvm::BasicBlock::Create(ctx, "exit", fn);
    b.CreateBr(header);
    b.SetInsertPoint(header);
    Values vals;
    std::vector<llvm::PHINode*> phis;
    for (llvm::Value* v : init) {
        auto* phi = b.CreatePHI(v->getType(), 2);
        phi->addIncoming(v, pre);
        phis.push_back(phi);
        vals.push_back(phi);
    }
    b.CreateCondBr(cond(vals), body_bb, exit);
    b.SetInsertPoint(body_bb);
    Values next = body(vals);
    for (std::size_t i = 0; i < phis.size(); ++i)
        phis[i]->addIncoming(next.at(i), b.GetInsertBlock());
    b.CreateBr(header);
    b.SetInsertPoint(exit);
    return vals;
}

Values for_range(llvm::IRBuilder<>& b, llvm::Value* start, llvm::Value* end, llvm::Value* step,
                 const Values& carried,
                 const std::function<Values(llvm::Value* i, const Values&)>& body) {
    Values init{start};
    init.insert(init.end(), carried.begin(), carried.end());
    Values out = while_loop(
        b, init, [&](const Values& v) { return b.CreateICmpSLT(v[0], end); },
        [&](const Values& v) {
            Values inner(v.begin() + 1, v.end());
            Values next_carried = body(v[0], inner);
            Values next{b.CreateAdd(v[0], step)};
            next.insert(next.end(), next_carried.begin(), next_carried.end());
            return next;
        });
    return Values(out.begin() + 1, out.end());
}

llvm::Value* add(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y) {
    return is_float(t) ? b.CreateFAdd(x, y) : b.CreateAdd(x, y);
}
llvm::Value* sub(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y) {
    return is_float(t) ? b.CreateFSub(x, y) : b.CreateSub(x, y);
}
llvm::Value* mul(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y) {
    return is_float(t) ? b.CreateFMul(x, y) : b.CreateMul(x, y);
}
llvm::Value* div(llvm::IRBuilder<>& b, Type t, llvm::Value* x, llvm::Value* y) {
    if (is_float(t))
        return b.CreateFDiv(x, y);
    return is_signed(t) ? b.CreateSDiv(x, y) : b.CreateUDiv(x, y);
}

llvm::Value* zero(llvm::IRBuilder<>&, llvm::Type* ty) {
    return llvm::Constant::getNullValue(ty);
}

} // namespace kcache::kernels::emit
