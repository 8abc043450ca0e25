// What `kcache compile` shows besides the stored artifact: the kernel's LLVM IR or its assembly
// (`--emit llvm|asm`), and the content key the store files its code under (`-v`). Each builds
// the kernel's module again in the current world -- entry and callees, prepared for the target
// and put in the store's canonical form, exactly as a compilation does before its probe -- in
// an LLVM context of its own; neither goes through the cache or the store.
// Thread-safety: thread-safe, as KernelCompiler::build_module.
#pragma once

#include "core/function.hpp"
#include "core/types.hpp"
#include "kernels/kernel_compiler.hpp"
#include "targets/target_spec.hpp"

#include <string>

namespace kcache::cli {

enum class TextForm {
    LlvmIR,   ///< the optimised module as LLVM prints it
    Assembly, ///< the target's assembly (PTX on nvptx)
};

/// The kernel `f` for `tt` on `spec` as `form`. Throws what a compilation throws.
std::string emit_text(const kernels::KernelCompiler& compiler, const Function& f, Type tt,
                      const TargetSpec& spec, TextForm form);

/// The digest, in hex, of the content key the store files the code of `f` for `tt` on `spec`
/// under (the name of its entry file; `kcache cache show` takes it).
std::string content_key_hex(const kernels::KernelCompiler& compiler, const Function& f, Type tt,
                            const TargetSpec& spec);

} // namespace kcache::cli
