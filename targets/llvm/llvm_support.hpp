// LLVM plumbing shared by the targets: one-time initialisation, target machines, the verifier,
// the optimisation pipeline and code generation, each turning LLVM's failures into kcache errors.
// Internal to targets/. Thread-safety: free functions, safe to call concurrently on distinct
// modules/contexts.
#pragma once

#include "targets/llvm/crash_recovery.hpp"
#include "targets/llvm/diagnostic_scope.hpp"

#include <llvm/Support/Error.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kcache::detail {

/// Registers every target, MC layer, asm printer and parser once per process.
void initialize_llvm();

/// A target machine; throws LoweringError when the triple's backend is not in this LLVM.
std::unique_ptr<llvm::TargetMachine> make_target_machine(const std::string& triple,
                                                         const std::string& cpu,
                                                         const std::string& features, int opt_level,
                                                         std::optional<llvm::Reloc::Model> reloc);

/// CPU names a triple's backend knows (from its subtarget tables).
std::vector<std::string> known_cpus(const std::string& triple);

/// Runs the module verifier; throws VerifierError naming the first failing function.
/// `stage` says which step found it ("input", "after lowering"). Each of these runs LLVM in a
/// recovery region and throws LoweringCrashError about `subject` when LLVM crashes.
void verify(llvm::Module& m, std::string_view stage, const CompileSubject& subject);

/// New-pass-manager default pipeline for `opt_level` (0..3) with the target's callbacks.
void optimize_module(llvm::Module& m, llvm::TargetMachine& tm, int opt_level,
                     const CompileSubject& subject);

/// Assembly (PTX) or object code; throws CodegenError with the backend's diagnostics.
std::vector<char> codegen(llvm::Module& m, llvm::TargetMachine& tm, bool assembly,
                          const CompileSubject& subject);

/// The message of an llvm::Error, consuming it.
std::string take_message(llvm::Error err);

} // namespace kcache::detail
