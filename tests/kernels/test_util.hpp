// Small helpers for the kernels tests: isolated method tables and functions, and tiny generator
// kernels whose result is easy to observe when run on the host.
#pragma once

#include "core/method_table.hpp"
#include "kernels/frontends/generator/emit.hpp"
#include "kernels/frontends/generator/generator.hpp"
#include "kernels/kernel_compiler.hpp"
#include "targets/target.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <typeinfo>

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

/// Generator of a kernel `k(out::Ptr{Float32})` storing `value` into out[0].
inline kernels::GeneratorFn store_value(float value) {
    return [value](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        b.CreateStore(llvm::ConstantFP::get(b.getFloatTy(), value), g.function().getArg(0));
        b.CreateRetVoid();
    };
}

/// Asserts that compiling throws E twice (nothing cached in between, nothing compiled) and
/// returns the error.
template <class E>
E expect_uncached_error(kernels::KernelCompiler& kc, const Function& f, Type tt,
                        const TargetSpec& spec) {
    const auto compiled_before = kc.cache().stats().compilations;
    for (int attempt = 0;; ++attempt) {
        try {
            kc.compile(f, tt, spec);
            throw std::logic_error(std::string("compiled; expected a ") + typeid(E).name());
        } catch (const E& e) {
            EXPECT_EQ(kc.cache().lookup(
                          f, tt, spec.arch.empty() ? spec.kind.target().resolve(spec) : spec),
                      nullptr);
            EXPECT_EQ(kc.cache().stats().compilations, compiled_before);
            if (attempt == 1)
                return e;
        }
    }
}

} // namespace kcache::test
