// Small kernels in textual LLVM IR using the portable builtins, shared by the targets tests.
#pragma once

#include "targets/llvm/isolated_context.hpp"
#include "targets/target.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>

namespace kcache::test {

/// c[i] = a[i] + b[i] for i = block_idx.x * block_dim.x + thread_idx.x < n.
extern const char* const kVectorAdd;
/// Block-wide tree sum through a 256-float shared tile and barriers, then atomic_add into out[0];
/// the global index comes from a helper function (builtins used in a callee).
extern const char* const kReduce;
/// out[i] = sqrt(in[i]) + exp(in[i]) (f32) and out64[i] = sqrt(in64[i]) (f64).
extern const char* const kMath;

/// A kernel `@all_math` calling each listed kcache math builtin once (name, e.g. "exp.f32").
std::string math_kernel(const std::vector<std::string>& builtins);

/// A fresh context and module per compilation, as the targets require; both are leaked rather
/// than destroyed when LLVM crashed in them.
struct Compilation {
    IsolatedContext ctx;
    ModulePtr module;
    explicit Compilation(const std::string& ir);
};

/// Parses `ir` and runs all three steps for `spec` on it.
Artifact compile(const std::string& ir, const std::string& kernel, const TargetSpec& spec);

inline std::string text(const Artifact& a) {
    return std::string(a.bytes.begin(), a.bytes.end());
}

} // namespace kcache::test
