#include "targets/builtins.hpp"

#include "targets/target_errors.hpp"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DataLayout.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Module.h>

#include <array>
#include <string>
#include <vector>

namespace kcache::builtins {
namespace {

struct MathInfo {
    MathOp op;
    std::string_view name;
    unsigned arity;
    llvm::Intrinsic::ID intrinsic; // not_intrinsic: composed from others (rsqrt)
};

constexpr std::array kMath{
    MathInfo{MathOp::Sqrt, "sqrt", 1, llvm::Intrinsic::sqrt},
    MathInfo{MathOp::Rsqrt, "rsqrt", 1, llvm::Intrinsic::not_intrinsic},
    MathInfo{MathOp::Exp, "exp", 1, llvm::Intrinsic::exp},
    MathInfo{MathOp::Exp2, "exp2", 1, llvm::Intrinsic::exp2},
    MathInfo{MathOp::Log, "log", 1, llvm::Intrinsic::log},
    MathInfo{MathOp::Log2, "log2", 1, llvm::Intrinsic::log2},
    MathInfo{MathOp::Log10, "log10", 1, llvm::Intrinsic::log10},
    MathInfo{MathOp::Sin, "sin", 1, llvm::Intrinsic::sin},
    MathInfo{MathOp::Cos, "cos", 1, llvm::Intrinsic::cos},
    MathInfo{MathOp::Tan, "tan", 1, llvm::Intrinsic::tan},
    MathInfo{MathOp::Fabs, "fabs", 1, llvm::Intrinsic::fabs},
    MathInfo{MathOp::Floor, "floor", 1, llvm::Intrinsic::floor},
    MathInfo{MathOp::Ceil, "ceil", 1, llvm::Intrinsic::ceil},
    MathInfo{MathOp::Trunc, "trunc", 1, llvm::Intrinsic::trunc},
    MathInfo{MathOp::Pow, "pow", 2, llvm::Intrinsic::pow},
    MathInfo{MathOp::Fmin, "fmin", 2, llvm::Intrinsic::minnum},
    MathInfo{MathOp::Fmax, "fmax", 2, llvm::Intrinsic::maxnum},
    MathInfo{MathOp::Fma, "fma", 3, llvm::Intrinsic::fma},
};

const MathInfo& info(MathOp op) {
    for (const auto& m : kMath)
        if (m.op == op)
            return m;
    return kMath[0]; // unreachable: kMath covers every MathOp
}

std::string type_name(llvm::Type* t) {
    std::string s;
    llvm::raw_string_ostream os(s);
    t->print(os);
    return s;
}

[[noreturn]] void bad_signature(const llvm::Function& f, const std::string& expected) {
    throw LoweringError("builtin @" + f.getName().str() + " declared as '" +
                            type_name(f.getFunctionType()) + "', expected '" + expected + "'",
                        f.getName().str());
}

void expect_type(const llvm::Function& f, llvm::Type* ret, llvm::ArrayRef<llvm::Type*> params) {
    auto* want = llvm::FunctionType::get(ret, params, false);
    if (f.getFunctionType() != want)
        bad_signature(f, type_name(want));
}

// A parsed builtin name; `lower_call` turns one call into target IR.
struct Parsed {
    enum { Index, Barrier, Atomic, Math } what;
    IndexKind index{};
    int dim = 0;
    MathOp op{};
    llvm::Type* type = nullptr; // element type of atomics and math
};

std::optional<llvm::Type*> suffix_type(llvm::StringRef suffix, llvm::LLVMContext& ctx,
                                       bool allow_i32) {
    if (suffix == "f32")
        return llvm::Type::getFloatTy(ctx);
    if (suffix == "f64")
        return llvm::Type::getDoubleTy(ctx);
    if (allow_i32 && suffix == "i32")
        return llvm::Type::getInt32Ty(ctx);
    return std::nullopt;
}

Parsed parse(const llvm::Function& f, const AddressSpaceMap& spaces) {
    auto& ctx = f.getContext();
    llvm::StringRef rest = f.getName().drop_front(kPrefix.size());
    auto [head, tail] = rest.split('.');
    static constexpr std::array<std::pair<std::string_view, IndexKind>, 4> kIndex{{
        {"thread_idx", IndexKind::ThreadIdx},
        {"block_idx", IndexKind::BlockIdx},
        {"block_dim", IndexKind::BlockDim},
        {"grid_dim", IndexKind::GridDim},
    }};
    for (auto [n, kind] : kIndex) {
        if (head != llvm::StringRef(n))
            continue;
        int dim = tail == "x" ? 0 : tail == "y" ? 1 : tail == "z" ? 2 : -1;
        if (dim < 0)
            break;
        expect_type(f, llvm::Type::getInt32Ty(ctx), {});
        return {Parsed::Index, kind, dim};
    }
    if (rest == "barrier") {
        expect_type(f, llvm::Type::getVoidTy(ctx), {});
        return {Parsed::Barrier};
    }
    if (head == "atomic_add") {
        if (auto t = suffix_type(tail, ctx, true)) {
            expect_type(f, *t, {llvm::PointerType::get(ctx, spaces.global), *t});
            Parsed p{Parsed::Atomic};
            p.type = *t;
            return p;
        }
    }
    for (const auto& m : kMath) {
        if (head != llvm::StringRef(m.name))
            continue;
        auto t = suffix_type(tail, ctx, false);
        if (!t)
            break;
        expect_type(f, *t, std::vector<llvm::Type*>(m.arity, *t));
        Parsed p{Parsed::Math};
        p.op = m.op;
        p.type = *t;
        return p;
    }
    throw LoweringError("unknown builtin @" + f.getName().str() + " (see targets/builtins.hpp)",
                        f.getName().str());
}

void lower_call(llvm::CallInst& call, const Parsed& p, Lowering& lowering) {
    llvm::IRBuilder<> b(&call);
    llvm::Value* result = nullptr;
    std::vector<llvm::Value*> args(call.arg_begin(), call.arg_end());
    switch (p.what) {
    case Parsed::Index:
        result = lowering.index(b, p.index, p.dim);
        break;
    case Parsed::Barrier:
        lowering.barrier(b);
        break;
    case Parsed::Atomic: {
        auto op = p.type->isIntegerTy() ? llvm::AtomicRMWInst::Add : llvm::AtomicRMWInst::FAdd;
        result = b.CreateAtomicRMW(op, args[0], args[1], llvm::MaybeAlign(),
                                   llvm::AtomicOrdering::Monotonic,
                                   lowering.atomic_scope(call.getContext()));
        break;
    }
    case Parsed::Math:
        result = lowering.math(b, p.op, p.type, args, call.getCalledFunction()->getName());
        break;
    }
    if (result)
        call.replaceAllUsesWith(result);
    call.eraseFromParent();
}

} // namespace

std::string_view name(MathOp op) {
    return info(op).name;
}
bool gpu_selects_natively(MathOp op) {
    switch (op) {
    case MathOp::Sqrt:
    case MathOp::Rsqrt:
    case MathOp::Fma:
    case MathOp::Fabs:
    case MathOp::Floor:
    case MathOp::Ceil:
    case MathOp::Trunc:
    case MathOp::Fmin:
    case MathOp::Fmax:
        return true;
    default:
        return false;
    }
}

unsigned arity(MathOp op) {
    return info(op).arity;
}

void lower(llvm::Module& m, Lowering& lowering, const AddressSpaceMap& spaces) {
    std::vector<llvm::Function*> builtins;
    for (auto& f : m)
        if (f.getName().starts_with(kPrefix)) {
            if (!f.isDeclaration())
                throw LoweringError("@" + f.getName().str() +
                                        " is defined in the module; kcache.* names are reserved "
                                        "for builtin declarations",
                                    f.getName().str());
            builtins.push_back(&f);
        }
    for (auto* f : builtins) {
        Parsed p = parse(*f, spaces);
        std::vector<llvm::CallInst*> calls;
        for (llvm::User* u : f->users()) {
            auto* call = llvm::dyn_cast<llvm::CallInst>(u);
            if (!call || call->getCalledFunction() != f) {
                std::string where;
                if (auto* inst = llvm::dyn_cast<llvm::Instruction>(u))
                    where = inst->getFunction()->getName().str();
                throw LoweringError("builtin @" + f->getName().str() +
                                        " used other than as the callee of a direct call",
                                    where);
            }
            calls.push_back(call);
        }
        for (auto* call : calls)
            lower_call(*call, p, lowering);
        f->eraseFromParent();
    }
}

llvm::Value* emit_intrinsic(llvm::IRBuilder<>& b, MathOp op, llvm::Type* ty,
                            llvm::ArrayRef<llvm::Value*> args) {
    if (op == MathOp::Rsqrt) {
        auto* root = b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, args[0]);
        return b.CreateFDiv(llvm::ConstantFP::get(ty, 1.0), root);
    }
    return b.CreateIntrinsic(info(op).intrinsic, {ty}, args);
}

SharedLayout shared_layout(llvm::Module& m, const AddressSpaceMap& spaces) {
    const llvm::DataLayout& dl = m.getDataLayout();
    SharedLayout layout;
    for (auto& g : m.globals()) {
        if (g.getAddressSpace() != spaces.shared)
            continue;
        if (!g.hasInitializer())
            throw LoweringError("shared-memory global @" + g.getName().str() +
                                " is external; only statically sized shared memory is supported");
        if (!llvm::isa<llvm::UndefValue>(g.getInitializer())) // poison is an UndefValue too
            throw LoweringError("shared-memory global @" + g.getName().str() +
                                " has an initializer; shared memory must be undef or poison");
        llvm::Align align = g.getAlign().value_or(dl.getABITypeAlign(g.getValueType()));
        std::uint64_t offset = llvm::alignTo(layout.size, align);
        layout.offsets.emplace_back(&g, offset);
        layout.size = offset + dl.getTypeAllocSize(g.getValueType());
    }
    return layout;
}

} // namespace kcache::builtins
