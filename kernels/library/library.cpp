#include "kernels/library/library.hpp"

#include "core/signature.hpp"
#include "kernels/errors.hpp"
#include "kernels/frontends/generator/emit.hpp"
#include "kernels/frontends/generator/generator.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/type_names.hpp"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace kcache::kernels {
namespace {

using namespace types;
using emit::Values;
using llvm::Value;

// The library's generators are versioned so that the action cache (store/) can serve them. They
// are part of kcache, whose own sources are in every store key, so editing them needs no bump.
const std::string kVersion = "kcache-library-1";

constexpr int kTile = 16;      // transpose and matmul_tiled tiles are 16x16
constexpr int kMaxBlock = 256; // reduction tiles: block sizes up to 256

// A generator body with an IRBuilder at the start of the function.
template <class Body>
GeneratorFn body(Body f) {
    return [f](GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        f(g, b);
    };
}

Value* arg(GenContext& g, unsigned i) {
    return g.function().getArg(i);
}

Value* i32(llvm::IRBuilder<>& b, int v) {
    return b.getInt32(static_cast<std::uint32_t>(v));
}

// Block-wide tree combine of tile[0..block_dim) into tile[0]; every thread must call it, after a
// barrier that published its own slot. Block size: a power of two.
void tree_combine(llvm::IRBuilder<>& b, llvm::Type* elt, Value* tile, Value* tid, Value* bdim,
                  const std::function<Value*(Value*, Value*)>& combine) {
    emit::while_loop(
        b, {b.CreateLShr(bdim, 1)},
        [&](const Values& v) { return b.CreateICmpUGT(v[0], i32(b, 0)); },
        [&](const Values& v) {
            emit::if_then(b, b.CreateICmpULT(tid, v[0]), [&] {
                Value* x = emit::load(b, elt, tile, tid);
                Value* y = emit::load(b, elt, tile, b.CreateAdd(tid, v[0]));
                emit::store(b, combine(x, y), tile, tid);
            });
            emit::barrier(b);
            return Values{b.CreateLShr(v[0], 1)};
        });
}

// --- helpers ------------------------------------------------------------------------------

void gen_muladd(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.sparam("T");
    llvm::Type* ty = g.llvm_type(t);
    Value *x = arg(g, 0), *y = arg(g, 1), *z = arg(g, 2);
    if (t == Float16() || t == BFloat16()) { // no portable half fma: compute in Float32
        auto* f32 = b.getFloatTy();
        Value* r = b.CreateIntrinsic(
            llvm::Intrinsic::fmuladd, {f32},
            {b.CreateFPExt(x, f32), b.CreateFPExt(y, f32), b.CreateFPExt(z, f32)});
        b.CreateRet(b.CreateFPTrunc(r, ty));
        return;
    }
    b.CreateRet(b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {ty}, {x, y, z}));
}

void gen_exp(GenContext&, llvm::IRBuilder<>& b) {
    Value* x = b.GetInsertBlock()->getParent()->getArg(0);
    b.CreateRet(emit::math(b, builtins::MathOp::Exp, {x}));
}

// --- element-wise kernels -----------------------------------------------------------------

void gen_fill(GenContext& g, llvm::IRBuilder<>& b) {
    Value *out = arg(g, 0), *value = arg(g, 1), *n = arg(g, 2);
    Value* i = emit::global_id(b);
    emit::if_then(b, b.CreateICmpSLT(i, n), [&] { emit::store(b, value, out, i); });
    b.CreateRetVoid();
}

void gen_copy(GenContext& g, llvm::IRBuilder<>& b) {
    llvm::Type* elt = g.llvm_type(g.sparam("T"));
    Value *dst = arg(g, 0), *src = arg(g, 1), *n = arg(g, 2);
    Value* i = emit::global_id(b);
    emit::if_then(b, b.CreateICmpSLT(i, n),
                  [&] { emit::store(b, emit::load(b, elt, src, i), dst, i); });
    b.CreateRetVoid();
}

void gen_vadd(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.sparam("T");
    llvm::Type* elt = g.llvm_type(t);
    Value *x = arg(g, 0), *y = arg(g, 1), *z = arg(g, 2), *n = arg(g, 3);
    Value* i = emit::global_id(b);
    emit::if_then(b, b.CreateICmpSLT(i, n), [&] {
        Value* s = emit::add(b, t, emit::load(b, elt, x, i), emit::load(b, elt, y, i));
        emit::store(b, s, z, i);
    });
    b.CreateRetVoid();
}

void gen_saxpy(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.sparam("T");
    llvm::Type* elt = g.llvm_type(t);
    const Function& muladd = Function::named("muladd");
    Value *a = arg(g, 0), *x = arg(g, 1), *y = arg(g, 2), *n = arg(g, 3);
    Value* i = emit::global_id(b);
    emit::if_then(b, b.CreateICmpSLT(i, n), [&] {
        Value* xi = emit::load(b, elt, x, i);
        Value* yi = emit::load(b, elt, y, i);
        emit::store(b, g.call(b, muladd, {{t, a}, {t, xi}, {t, yi}}), y, i);
    });
    b.CreateRetVoid();
}

// --- block-level kernels --------------------------------------------------------------------

void gen_reduce_sum(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.arg_type(0).element();
    llvm::Type* elt = g.llvm_type(t);
    Value *in = arg(g, 0), *out = arg(g, 1), *n = arg(g, 2);
    Value* tile = emit::shared_array(g, elt, kMaxBlock, "reduce_tile");
    Value* tid = emit::thread_idx(b);
    Value* bdim = emit::block_dim(b);
    Value* acc = emit::for_range(b, emit::global_id(b), n, emit::grid_size(b), {emit::zero(b, elt)},
                                 [&](Value* i, const Values& c) {
                                     return Values{b.CreateFAdd(c[0], emit::load(b, elt, in, i))};
                                 })[0];
    emit::store(b, acc, tile, tid);
    emit::barrier(b);
    tree_combine(b, elt, tile, tid, bdim, [&](Value* x, Value* y) { return b.CreateFAdd(x, y); });
    emit::if_then(b, b.CreateICmpEQ(tid, i32(b, 0)),
                  [&] { emit::atomic_add(b, out, emit::load(b, elt, tile, i32(b, 0))); });
    b.CreateRetVoid();
}

void gen_softmax_rows(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.arg_type(0).element();
    llvm::Type* elt = g.llvm_type(t);
    const Function& exp = Function::named("exp");
    Value *in = arg(g, 0), *out = arg(g, 1), *rows = arg(g, 2), *cols = arg(g, 3);
    Value* tile = emit::shared_array(g, elt, kMaxBlock, "softmax_tile");
    Value* row = emit::block_idx(b);
    Value* tid = emit::thread_idx(b);
    Value* bdim = emit::block_dim(b);
    // The whole block takes the same branch, so the barriers inside are reached by all threads.
    emit::if_then(b, b.CreateICmpSLT(row, rows), [&] {
        Value* base = b.CreateMul(row, cols);
        auto x_at = [&](Value* j) { return emit::load(b, elt, in, b.CreateAdd(base, j)); };
        auto exp_of = [&](Value* v) { return g.call(b, exp, {{t, v}}); };
        // Row maximum.
        Value* neg_inf = llvm::ConstantFP::getInfinity(elt, true);
        Value* mx = emit::for_range(b, tid, cols, bdim, {neg_inf}, [&](Value* j, const Values& c) {
            return Values{emit::math(b, builtins::MathOp::Fmax, {c[0], x_at(j)})};
        })[0];
        emit::store(b, mx, tile, tid);
        emit::barrier(b);
        tree_combine(b, elt, tile, tid, bdim, [&](Value* x, Value* y) {
            return emit::math(b, builtins::MathOp::Fmax, {x, y});
        });
        Value* m = emit::load(b, elt, tile, i32(b, 0));
        emit::barrier(b); // everyone has read the maximum before the tile is reused
        // Sum of exp(x - max).
        Value* sum = emit::for_range(
            b, tid, cols, bdim, {emit::zero(b, elt)}, [&](Value* j, const Values& c) {
                return Values{b.CreateFAdd(c[0], exp_of(b.CreateFSub(x_at(j), m)))};
            })[0];
        emit::store(b, sum, tile, tid);
        emit::barrier(b);
        tree_combine(b, elt, tile, tid, bdim,
                     [&](Value* x, Value* y) { return b.CreateFAdd(x, y); });
        Value* s = emit::load(b, elt, tile, i32(b, 0));
        emit::for_range(b, tid, cols, bdim, {}, [&](Value* j, const Values&) {
            Value* e = exp_of(b.CreateFSub(x_at(j), m));
            emit::store(b, b.CreateFDiv(e, s), out, b.CreateAdd(base, j));
            return Values{};
        });
    });
    b.CreateRetVoid();
}

void gen_transpose(GenContext& g, llvm::IRBuilder<>& b) {
    llvm::Type* elt = g.llvm_type(g.sparam("T"));
    Value *in = arg(g, 0), *out = arg(g, 1), *rows = arg(g, 2), *cols = arg(g, 3);
    // One padding column so that column reads hit different banks.
    Value* tile = emit::shared_array(g, elt, kTile * (kTile + 1), "transpose_tile");
    Value *tx = emit::thread_idx(b, 0), *ty = emit::thread_idx(b, 1);
    Value *bx = emit::block_idx(b, 0), *by = emit::block_idx(b, 1);
    Value* x = b.CreateAdd(b.CreateMul(bx, i32(b, kTile)), tx);
    Value* y = b.CreateAdd(b.CreateMul(by, i32(b, kTile)), ty);
    emit::if_then(b, b.CreateAnd(b.CreateICmpSLT(x, cols), b.CreateICmpSLT(y, rows)), [&] {
        Value* v = emit::load(b, elt, in, b.CreateAdd(b.CreateMul(y, cols), x));
        emit::store(b, v, tile, b.CreateAdd(b.CreateMul(ty, i32(b, kTile + 1)), tx));
    });
    emit::barrier(b);
    Value* x2 = b.CreateAdd(b.CreateMul(by, i32(b, kTile)), tx); // column of out = row of in
    Value* y2 = b.CreateAdd(b.CreateMul(bx, i32(b, kTile)), ty);
    emit::if_then(b, b.CreateAnd(b.CreateICmpSLT(x2, rows), b.CreateICmpSLT(y2, cols)), [&] {
        Value* v = emit::load(b, elt, tile, b.CreateAdd(b.CreateMul(tx, i32(b, kTile + 1)), ty));
        emit::store(b, v, out, b.CreateAdd(b.CreateMul(y2, rows), x2));
    });
    b.CreateRetVoid();
}

void gen_matmul(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.sparam("T");
    llvm::Type* elt = g.llvm_type(t);
    const Function& muladd = Function::named("muladd");
    Value *a = arg(g, 0), *bm = arg(g, 1), *c = arg(g, 2);
    Value *m = arg(g, 3), *n = arg(g, 4), *k = arg(g, 5);
    Value* col = emit::global_id(b, 0);
    Value* row = emit::global_id(b, 1);
    emit::if_then(b, b.CreateAnd(b.CreateICmpSLT(row, m), b.CreateICmpSLT(col, n)), [&] {
        Value* acc = emit::for_range(
            b, i32(b, 0), k, i32(b, 1), {emit::zero(b, elt)}, [&](Value* p, const Values& v) {
                Value* av = emit::load(b, elt, a, b.CreateAdd(b.CreateMul(row, k), p));
                Value* bv = emit::load(b, elt, bm, b.CreateAdd(b.CreateMul(p, n), col));
                return Values{g.call(b, muladd, {{t, av}, {t, bv}, {t, v[0]}})};
            })[0];
        emit::store(b, acc, c, b.CreateAdd(b.CreateMul(row, n), col));
    });
    b.CreateRetVoid();
}

void gen_matmul_tiled(GenContext& g, llvm::IRBuilder<>& b) {
    Type t = g.sparam("T");
    llvm::Type* elt = g.llvm_type(t);
    const Function& muladd = Function::named("muladd");
    Value *a = arg(g, 0), *bm = arg(g, 1), *c = arg(g, 2);
    Value *m = arg(g, 3), *n = arg(g, 4), *k = arg(g, 5);
    Value* as = emit::shared_array(g, elt, kTile * kTile, "matmul_a_tile");
    Value* bs = emit::shared_array(g, elt, kTile * kTile, "matmul_b_tile");
    Value *tx = emit::thread_idx(b, 0), *ty = emit::thread_idx(b, 1);
    Value* row = b.CreateAdd(b.CreateMul(emit::block_idx(b, 1), i32(b, kTile)), ty);
    Value* col = b.CreateAdd(b.CreateMul(emit::block_idx(b, 0), i32(b, kTile)), tx);
    Value* slot = b.CreateAdd(b.CreateMul(ty, i32(b, kTile)), tx);
    Value* tiles = b.CreateSDiv(b.CreateAdd(k, i32(b, kTile - 1)), i32(b, kTile));
    Value* zero = emit::zero(b, elt);
    // Loads outside the matrices read element 0 instead and are replaced by zero.
    auto guarded = [&](Value* base, Value* in_range, Value* index) {
        Value* v = emit::load(b, elt, base, b.CreateSelect(in_range, index, i32(b, 0)));
        return b.CreateSelect(in_range, v, zero);
    };
    Value* acc =
        emit::for_range(b, i32(b, 0), tiles, i32(b, 1), {zero}, [&](Value* tile, const Values& v) {
            Value* acol = b.CreateAdd(b.CreateMul(tile, i32(b, kTile)), tx);
            Value* a_in = b.CreateAnd(b.CreateICmpSLT(row, m), b.CreateICmpSLT(acol, k));
            emit::store(b, guarded(a, a_in, b.CreateAdd(b.CreateMul(row, k), acol)), as, slot);
            Value* brow = b.CreateAdd(b.CreateMul(tile, i32(b, kTile)), ty);
            Value* b_in = b.CreateAnd(b.CreateICmpSLT(brow, k), b.CreateICmpSLT(col, n));
            emit::store(b, guarded(bm, b_in, b.CreateAdd(b.CreateMul(brow, n), col)), bs, slot);
            emit::barrier(b);
            Values inner = emit::for_range(
                b, i32(b, 0), i32(b, kTile), i32(b, 1), {v[0]}, [&](Value* p, const Values& w) {
                    Value* av =
                        emit::load(b, elt, as, b.CreateAdd(b.CreateMul(ty, i32(b, kTile)), p));
                    Value* bv =
                        emit::load(b, elt, bs, b.CreateAdd(b.CreateMul(p, i32(b, kTile)), tx));
                    return Values{g.call(b, muladd, {{t, av}, {t, bv}, {t, w[0]}})};
                });
            emit::barrier(b); // the tiles are overwritten by the next step
            return inner;
        })[0];
    emit::if_then(b, b.CreateAnd(b.CreateICmpSLT(row, m), b.CreateICmpSLT(col, n)),
                  [&] { emit::store(b, acc, c, b.CreateAdd(b.CreateMul(row, n), col)); });
    b.CreateRetVoid();
}

// --- a kernel written as LLVM IR, calling a generic helper through dispatch -----------------

const char* const kAxpbyIR = R"(; y[i] = muladd(a, x[i], b * y[i]), muladd resolved by dispatch
declare i32 @kcache.thread_idx.x()
declare i32 @kcache.block_idx.x()
declare i32 @kcache.block_dim.x()
declare !kcache.types !0 float @muladd$f32(float, float, float)

define i32 @global_id() {
  %tid = call i32 @kcache.thread_idx.x()
  %bid = call i32 @kcache.block_idx.x()
  %bdim = call i32 @kcache.block_dim.x()
  %base = mul i32 %bid, %bdim
  %i = add i32 %base, %tid
  ret i32 %i
}

define void @axpby_ir(float %a, ptr addrspace(1) %x, float %b, ptr addrspace(1) %y, i32 %n) {
entry:
  %i = call i32 @global_id()
  %in = icmp slt i32 %i, %n
  br i1 %in, label %body, label %exit
body:
  %idx = sext i32 %i to i64
  %px = getelementptr float, ptr addrspace(1) %x, i64 %idx
  %py = getelementptr float, ptr addrspace(1) %y, i64 %idx
  %vx = load float, ptr addrspace(1) %px
  %vy = load float, ptr addrspace(1) %py
  %by = fmul float %b, %vy
  %r = call float @muladd$f32(float %a, float %vx, float %by)
  store float %r, ptr addrspace(1) %py
  br label %exit
exit:
  ret void
}

!0 = !{!"Float32", !"Float32", !"Float32"}
)";

std::vector<KernelInfo> register_into(MethodTable& table) {
    // Both are Julia's `T`, bounded differently: `where T<:AbstractFloat`, `where T<:Real`.
    Type T_float = Type::type_var("T", AbstractFloat());
    Type T_real = Type::type_var("T", Real());
    auto sig_str = [](const Function& f, const Signature& s) { return s.str(f.name()); };
    std::vector<KernelInfo> out;
    auto kernel = [&](const char* name, std::vector<Signature> sigs, const GeneratorFn& gen,
                      std::string description, std::vector<Type> examples) {
        Function& f = Function::define(name);
        KernelInfo info{name, {}, std::move(description), std::move(examples)};
        for (auto& s : sigs) {
            info.signatures.push_back(sig_str(f, s));
            add_generator(table, f, s, gen, Type(), kVersion);
        }
        out.push_back(std::move(info));
    };
    auto tt = [](std::initializer_list<Type> ts) { return Type::tuple(ts); };

    // Helpers.
    Function& muladd = Function::define("muladd");
    add_generator(table, muladd, Signature({T_float, T_float, T_float}, {T_float}),
                  body(gen_muladd), T_float, kVersion);
    Function& exp = Function::define("exp");
    for (Type f : {Float32(), Float64()})
        add_generator(table, exp, Signature({f}), body(gen_exp), f, kVersion);

    kernel("fill", {Signature({Ptr(T_real), T_real, Int32()}, {T_real})}, body(gen_fill),
           "out[i] = value for i < n",
           {tt({Ptr(Float32()), Float32(), Int32()}), tt({Ptr(Int32()), Int32(), Int32()})});
    kernel("copy", {Signature({Ptr(T_real), Ptr(T_real), Int32()}, {T_real})}, body(gen_copy),
           "dst[i] = src[i] for i < n", {tt({Ptr(Float32()), Ptr(Float32()), Int32()})});
    kernel("vadd", {Signature({Ptr(T_real), Ptr(T_real), Ptr(T_real), Int32()}, {T_real})},
           body(gen_vadd), "c[i] = a[i] + b[i] for i < n",
           {tt({Ptr(Float32()), Ptr(Float32()), Ptr(Float32()), Int32()}),
            tt({Ptr(Int64()), Ptr(Int64()), Ptr(Int64()), Int32()})});
    kernel("saxpy", {Signature({T_float, Ptr(T_float), Ptr(T_float), Int32()}, {T_float})},
           body(gen_saxpy), "y[i] = muladd(a, x[i], y[i]) for i < n (Float16 computes in Float32)",
           {tt({Float32(), Ptr(Float32()), Ptr(Float32()), Int32()}),
            tt({Float64(), Ptr(Float64()), Ptr(Float64()), Int32()}),
            tt({Float16(), Ptr(Float16()), Ptr(Float16()), Int32()})});
    kernel("reduce_sum",
           {Signature({Ptr(Float32()), Ptr(Float32()), Int32()}),
            Signature({Ptr(Float64()), Ptr(Float64()), Int32()})},
           body(gen_reduce_sum),
           "out[0] += sum(in[0:n]): grid-stride partial sums, shared-memory tree, one atomic "
           "add per block; block size a power of two <= 256",
           {tt({Ptr(Float32()), Ptr(Float32()), Int32()}),
            tt({Ptr(Float64()), Ptr(Float64()), Int32()})});
    kernel("softmax_rows", {Signature({Ptr(Float32()), Ptr(Float32()), Int32(), Int32()})},
           body(gen_softmax_rows),
           "out[r, :] = softmax(in[r, :]) for a rows x cols row-major matrix; one block per "
           "row, block size a power of two <= 256",
           {tt({Ptr(Float32()), Ptr(Float32()), Int32(), Int32()})});
    kernel("transpose", {Signature({Ptr(T_real), Ptr(T_real), Int32(), Int32()}, {T_real})},
           body(gen_transpose),
           "out (cols x rows) = transpose(in (rows x cols)) through a 16x17 shared tile; block "
           "16x16",
           {tt({Ptr(Float32()), Ptr(Float32()), Int32(), Int32()})});
    kernel("matmul",
           {Signature({Ptr(T_float), Ptr(T_float), Ptr(T_float), Int32(), Int32(), Int32()},
                      {T_float})},
           body(gen_matmul),
           "c (m x n) = a (m x k) * b (k x n), row-major, one thread per element (x: column, "
           "y: row)",
           {tt({Ptr(Float32()), Ptr(Float32()), Ptr(Float32()), Int32(), Int32(), Int32()})});
    kernel("matmul_tiled",
           {Signature({Ptr(T_float), Ptr(T_float), Ptr(T_float), Int32(), Int32(), Int32()},
                      {T_float})},
           body(gen_matmul_tiled),
           "matmul through 16x16 shared-memory tiles of a and b; block exactly 16x16",
           {tt({Ptr(Float32()), Ptr(Float32()), Ptr(Float32()), Int32(), Int32(), Int32()})});

    Function& axpby = Function::define("axpby_ir");
    Signature axpby_sig({Float32(), Ptr(Float32()), Float32(), Ptr(Float32()), Int32()});
    out.push_back({"axpby_ir",
                   {sig_str(axpby, axpby_sig)},
                   "y[i] = muladd(a, x[i], b * y[i]); written as LLVM IR, muladd by dispatch",
                   {Type::tuple(axpby_sig.params())}});
    add_ir_method(table, axpby, axpby_sig, LlvmIR::text(kAxpbyIR));

    std::sort(out.begin(), out.end(),
              [](const KernelInfo& x, const KernelInfo& y) { return x.name < y.name; });
    return out;
}

} // namespace

std::vector<KernelInfo> register_all(MethodTable& table) {
    static std::mutex mutex;
    static std::map<const MethodTable*, std::vector<KernelInfo>> registered;
    std::lock_guard lock(mutex);
    auto it = registered.find(&table);
    if (it == registered.end())
        it = registered.emplace(&table, register_into(table)).first;
    return it->second;
}

const KernelInfo* find_kernel(const std::vector<KernelInfo>& kernels, std::string_view name) {
    for (const auto& k : kernels)
        if (k.name == name)
            return &k;
    return nullptr;
}

} // namespace kcache::kernels
