#include "targets/target.hpp"

#include "core/errors.hpp"
#include "targets/amdgpu_target.hpp"
#include "targets/builtins.hpp"
#include "targets/host_target.hpp"
#include "targets/llvm_support.hpp"
#include "targets/nvptx_target.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Config/llvm-config.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>

namespace kcache {
namespace {

// Named metadata prepare leaves for the later steps; part of the prepared IR and so of its hash.
constexpr const char* kKernelMd = "kcache.kernel";                     // !{!"<kernel name>"}
constexpr const char* kTargetMd = "kcache.target";                     // !{!"<kind>", !"<arch>"}
constexpr const char* kSharedBytesFlag = "kcache.static_shared_bytes"; // module flag, i64

using Clock = std::chrono::steady_clock;

std::string md_string(const llvm::NamedMDNode* md, unsigned op) {
    if (!md || md->getNumOperands() != 1 || md->getOperand(0)->getNumOperands() <= op)
        return {};
    if (auto* s = llvm::dyn_cast<llvm::MDString>(md->getOperand(0)->getOperand(op)))
        return s->getString().str();
    return {};
}

// Throws unless `m` was prepared for exactly this kind and arch.
void check_prepared(const llvm::Module& m, const TargetSpec& spec, std::string_view step) {
    const auto* md = m.getNamedMetadata(kTargetMd);
    std::string kind = md_string(md, 0), arch = md_string(md, 1);
    if (kind.empty())
        throw InvalidArgumentError(std::string(step) + ": module was not prepared (run prepare)");
    if (kind != to_string(spec.kind) || arch != spec.arch)
        throw InvalidArgumentError(std::string(step) + ": module was prepared for " + kind + ":" +
                                   arch + ", not " + std::string(to_string(spec.kind)) + ":" +
                                   spec.arch);
}

} // namespace

TargetSpec Target::resolve(const TargetSpec& spec) const {
    if (spec.kind != kind())
        throw InvalidArgumentError("spec for " + std::string(to_string(spec.kind)) +
                                   " given to the " + std::string(to_string(kind())) + " target");
    if (spec.opt_level < 0 || spec.opt_level > 3)
        throw InvalidArgumentError("opt level " + std::to_string(spec.opt_level) + " outside 0..3");
    TargetSpec r = spec;
    if (r.arch.empty())
        r.arch = default_arch();
    auto archs = supported_archs();
    if (!std::binary_search(archs.begin(), archs.end(), r.arch))
        throw UnknownArchError(std::string(to_string(kind())), r.arch, std::move(archs));
    return r;
}

std::chrono::nanoseconds Target::prepare(llvm::Module& m, std::string_view kernel_name,
                                         const TargetSpec& spec) const {
    auto start = Clock::now();
    TargetSpec r = resolve(spec);
    if (m.getNamedMetadata(kTargetMd))
        throw InvalidArgumentError("prepare: module '" + m.getModuleIdentifier() +
                                   "' was already prepared");
    detail::DiagnosticScope diags(m.getContext());
    detail::verify(m, "input");

    llvm::Function* kernel = m.getFunction(llvm::StringRef(kernel_name.data(), kernel_name.size()));
    std::string kname(kernel_name);
    if (!kernel || kernel->isDeclaration())
        throw LoweringError("kernel @" + kname + " is not defined in the module", kname);
    if (!kernel->getReturnType()->isVoidTy())
        throw LoweringError("kernel @" + kname + " must return void", kname);
    if (kernel->getName().starts_with(builtins::kPrefix))
        throw LoweringError("kernel @" + kname + " uses the reserved kcache. prefix", kname);

    auto tm = target_machine(r);
    m.setTargetTriple(triple());
    m.setDataLayout(tm->createDataLayout());

    // Size before lowering: the host target rewrites the shared globals away.
    std::uint64_t shared_bytes = builtins::shared_layout(m).size;
    for (auto& g : m.globals())
        if (g.getAddressSpace() == 3)
            g.setLinkage(llvm::GlobalValue::InternalLinkage);

    // The module holds every callee, so only the entry needs to stay visible.
    for (auto& f : m) {
        if (f.isDeclaration())
            continue;
        if (&f == kernel) {
            f.setLinkage(llvm::GlobalValue::ExternalLinkage);
            f.setVisibility(llvm::GlobalValue::DefaultVisibility);
        } else {
            f.setLinkage(llvm::GlobalValue::InternalLinkage);
            f.setComdat(nullptr);
        }
    }

    lower(m, *kernel, r);
    if (diags.has_errors())
        throw LoweringError("lowering for " + to_string(r) + " failed: " + diags.errors());

    auto& ctx = m.getContext();
    m.getOrInsertNamedMetadata(kKernelMd)->addOperand(
        llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, kname)}));
    m.getOrInsertNamedMetadata(kTargetMd)->addOperand(llvm::MDNode::get(
        ctx, {llvm::MDString::get(ctx, to_string(r.kind)), llvm::MDString::get(ctx, r.arch)}));
    m.setModuleFlag(llvm::Module::Error, kSharedBytesFlag,
                    llvm::ConstantInt::get(llvm::Type::getInt64Ty(ctx), shared_bytes));

    detail::verify(m, "after lowering for " + to_string(r));
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
}

std::chrono::nanoseconds Target::optimize(llvm::Module& m, const TargetSpec& spec) const {
    auto start = Clock::now();
    TargetSpec r = resolve(spec);
    check_prepared(m, r, "optimize");
    auto tm = target_machine(r);
    detail::optimize_module(m, *tm, r.opt_level);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
}

Artifact Target::emit(llvm::Module& m, const TargetSpec& spec) const {
    auto start = Clock::now();
    TargetSpec r = resolve(spec);
    check_prepared(m, r, "emit");
    auto tm = target_machine(r);

    Artifact a;
    a.kind = r.kind;
    a.arch = r.arch;
    a.opt_level = r.opt_level;
    a.kernel_symbol = md_string(m.getNamedMetadata(kKernelMd), 0);
    a.llvm_version = LLVM_VERSION_STRING;
    if (auto* flag =
            llvm::mdconst::extract_or_null<llvm::ConstantInt>(m.getModuleFlag(kSharedBytesFlag)))
        a.static_shared_bytes = flag->getZExtValue();

    finish(detail::codegen(m, *tm, emits_assembly()), r, a);
    a.times.emit = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
    return a;
}

Artifact Target::compile(llvm::Module& m, std::string_view kernel, const TargetSpec& spec) const {
    auto prepare_time = prepare(m, kernel, spec);
    auto optimize_time = optimize(m, spec);
    Artifact a = emit(m, spec);
    a.times.prepare = prepare_time;
    a.times.optimize = optimize_time;
    return a;
}

Toolchain Target::toolchain(const TargetSpec& spec) const {
    const TargetSpec r = resolve(spec);
    auto tm = target_machine(r);
    return Toolchain{tm->getTargetTriple().str(),
                     tm->getTargetCPU().str(),
                     tm->getTargetFeatureString().str(),
                     LLVM_VERSION_STRING,
                     tools(),
                     libraries()};
}

std::string rename_prepared_kernel(llvm::Module& m, std::string_view name) {
    llvm::NamedMDNode* md = m.getNamedMetadata(kKernelMd);
    const std::string old = md_string(md, 0);
    llvm::Function* kernel = old.empty() ? nullptr : m.getFunction(old);
    if (!kernel)
        throw InvalidArgumentError("rename_prepared_kernel: module '" + m.getModuleIdentifier() +
                                   "' was not prepared");
    kernel->setName(llvm::StringRef(name.data(), name.size()));
    const std::string now = kernel->getName().str();
    const std::string derived = old + ".kcache.";
    for (auto& g : m.globals())
        if (g.getName().starts_with(derived))
            g.setName(now + g.getName().substr(old.size()).str());
    auto& ctx = m.getContext();
    md->setOperand(0, llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, now)}));
    return now;
}

const Target& target_for(TargetKind kind) {
    // Function-local statics: thread-safe initialisation, created only when asked for.
    switch (kind) {
    case TargetKind::Nvptx: {
        static const NvptxTarget nvptx;
        return nvptx;
    }
    case TargetKind::Amdgpu: {
        static const AmdgpuTarget amdgpu;
        return amdgpu;
    }
    case TargetKind::Host:
        break;
    }
    static const HostTarget host;
    return host;
}

} // namespace kcache
