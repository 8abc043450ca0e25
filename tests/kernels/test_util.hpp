// Small helpers for the kernels tests: isolated method tables and functions, and tiny generator
// kernels whose result is easy to observe when run on the host.
#pragma once

#include "core/method_table.hpp"
#include "kernels/emit.hpp"
#include "kernels/generator.hpp"

#include <atomic>
#include <string>

namespace kcache::test {

/// A process-unique name with `prefix` (functions and tables are global and immortal).
inline std::string unique(const std::string& prefix) {
    static std::atomic<int> n{0};
    return prefix + "_" + std::to_string(n.fetch_add(1));
}

/// A fresh root table: nothing else is visible through it.
inline MethodTable& fresh_table(const std::string& prefix) {
    return MethodTable::create_root(unique(prefix));
}

/// Generator of `f(x::Float32)::Float32 = x + c`.
inline kernels::GeneratorFn add_const(float c) {
    return [c](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        b.CreateRet(b.CreateFAdd(g.function().getArg(0), llvm::ConstantFP::get(b.getFloatTy(), c)));
    };
}

/// Generator of a kernel `k(out::Ptr{Float32})` storing `callee(1.0f)` into out[0], or 1.0f
/// when `callee` is null.
inline kernels::GeneratorFn store_call(const Function* callee) {
    return [callee](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        llvm::Value* v = llvm::ConstantFP::get(b.getFloatTy(), 1.0f);
        if (callee)
            v = g.call(b, *callee, {{types::Float32(), v}});
        b.CreateStore(v, g.function().getArg(0));
        b.CreateRetVoid();
    };
}

} // namespace kcache::test
