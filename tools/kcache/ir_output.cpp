#include "ir_output.hpp"

#include "store/canonical_ir.hpp"
#include "store/keys.hpp"
#include "targets/llvm/isolated_context.hpp"
#include "targets/llvm/llvm_support.hpp"
#include "targets/target.hpp"

#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

namespace kcache::cli {
namespace {

// The module of (f, tt) prepared for `spec` and made canonical, owned by `ctx`.
llvm::Module& canonical_module(const kernels::KernelCompiler& compiler, const Function& f, Type tt,
                               const TargetSpec& spec, IsolatedContext& ctx) {
    // Released into the context: if LLVM crashes in it, the context keeps its modules.
    llvm::Module* m = compiler.build_module(f, tt, spec, ctx.get()).release();
    spec.kind.target().prepare(*m, f.name(), spec);
    store::canonicalize(*m);
    return *m;
}

} // namespace

std::string emit_text(const kernels::KernelCompiler& compiler, const Function& f, Type tt,
                      const TargetSpec& spec, TextForm form) {
    const Target& target = spec.kind.target();
    const TargetSpec r = target.resolve(spec);
    IsolatedContext ctx;
    llvm::Module& m = canonical_module(compiler, f, tt, r, ctx);
    target.optimize(m, r);
    if (form == TextForm::LlvmIR) {
        std::string text;
        llvm::raw_string_ostream os(text);
        m.print(os, nullptr);
        return text;
    }
    const Toolchain& tc = store::compile_env(r).toolchain;
    auto tm =
        detail::make_target_machine(tc.triple, tc.cpu, tc.features, r.opt_level, llvm::Reloc::PIC_);
    const detail::CompileSubject subject{std::string(store::kCanonicalKernel),
                                         f.name() + "(" + store::arg_types_of(tt) + ")",
                                         to_string(r)};
    const std::vector<char> assembly = detail::codegen(m, *tm, /*assembly=*/true, subject);
    return std::string(assembly.begin(), assembly.end());
}

std::string content_key_hex(const kernels::KernelCompiler& compiler, const Function& f, Type tt,
                            const TargetSpec& spec) {
    const TargetSpec r = spec.kind.target().resolve(spec);
    IsolatedContext ctx;
    llvm::Module& m = canonical_module(compiler, f, tt, r, ctx);
    return store::ContentKey{store::compile_env(r), store::canonical_digest(m)}.digest().hex();
}

} // namespace kcache::cli
