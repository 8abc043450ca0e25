#include "targets/target.hpp"

#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "targets/builtins.hpp"
#include "targets/llvm/llvm_support.hpp"
#include "targets/target_errors.hpp"

#include <llvm/ADT/SmallPtrSet.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Instruction.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>
#include <functional>

namespace kcache {
namespace {

using detail::CompileSubject;

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

// The first type inside `t` (itself, or an element of a vector, array or struct) that
// `lowered` rejects; nullptr when there is none. Iterative: aggregates may nest deeply.
const llvm::Type* first_unlowerable(const llvm::Type* t,
                                    const std::function<bool(const llvm::Type&)>& lowered) {
    llvm::SmallVector<const llvm::Type*, 8> work{t};
    llvm::SmallPtrSet<const llvm::Type*, 8> seen;
    while (!work.empty()) {
        const llvm::Type* u = work.pop_back_val();
        if (!seen.insert(u).second)
            continue;
        if (u->isFloatingPointTy() && !lowered(*u))
            return u;
        if (!u->isPointerTy() && !u->isFunctionTy())
            for (const llvm::Type* sub : u->subtypes())
                work.push_back(sub);
    }
    return nullptr;
}

std::string type_str(const llvm::Type& t) {
    std::string s;
    llvm::raw_string_ostream os(s);
    t.print(os);
    return s;
}

std::string value_str(const llvm::Value& v) {
    std::string s;
    llvm::raw_string_ostream os(s);
    v.print(os);
    auto first = s.find_first_not_of(' ');
    return excerpt(first == std::string::npos ? s : s.substr(first));
}

CompileSubject subject_of(const llvm::Module& m, std::string kernel, const TargetSpec& spec) {
    return {std::move(kernel), m.getModuleIdentifier(), to_string(spec)};
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

bool Target::lowers_float(const llvm::Type& t) const {
    return t.isHalfTy() || t.isBFloatTy() || t.isFloatTy() || t.isDoubleTy();
}

bool Target::own_intrinsic_prefix(std::string_view prefix) const {
    return llvm::StringRef(prefix) ==
           llvm::Triple::getArchTypePrefix(llvm::Triple(triple()).getArch());
}

std::string Target::unsupported(const llvm::Function& f) const {
    const std::string name = f.getName().str();
    if (f.isDeclaration()) {
        if (f.use_empty() || !f.getName().starts_with("llvm."))
            return {};
        const llvm::Intrinsic::ID id = f.getIntrinsicID();
        if (id == llvm::Intrinsic::not_intrinsic)
            return "@" + excerpt(name) + " is not an intrinsic of LLVM " LLVM_VERSION_STRING;
        if (!llvm::Function::isTargetIntrinsic(id))
            return {};
        const std::string_view rest = std::string_view(name).substr(5); // after "llvm."
        const std::string_view prefix = rest.substr(0, rest.find('.'));
        if (own_intrinsic_prefix(prefix))
            return {};
        std::string caller;
        for (const llvm::User* u : f.users())
            if (const auto* call = llvm::dyn_cast<llvm::Instruction>(u)) {
                caller = "@" + excerpt(call->getFunction()->getName().str()) + " calls ";
                break;
            }
        return caller + "@" + excerpt(name) + ", an intrinsic of another target (llvm." +
               std::string(prefix) + ".*); " + std::string(to_string(kind())) +
               " kernels cannot call it";
    }
    auto lowered = [this](const llvm::Type& t) { return lowers_float(t); };
    auto check = [&](const llvm::Type* t, const llvm::Value* where) -> std::string {
        const llvm::Type* bad = first_unlowerable(t, lowered);
        if (!bad)
            return {};
        return "@" + excerpt(name) + " computes with " + type_str(*bad) + ", which " +
               std::string(to_string(kind())) + " cannot lower" +
               (where ? " (`" + value_str(*where) + "`)" : std::string(" (its signature)"));
    };
    if (auto why = check(f.getFunctionType(), nullptr); !why.empty())
        return why;
    for (const auto& block : f)
        for (const auto& inst : block) {
            if (auto why = check(inst.getType(), &inst); !why.empty())
                return why;
            for (const llvm::Value* op : inst.operands())
                if (auto why = check(op->getType(), &inst); !why.empty())
                    return why;
        }
    return {};
}

std::chrono::nanoseconds Target::prepare(llvm::Module& m, std::string_view kernel_name,
                                         const TargetSpec& spec) const {
    auto start = Clock::now();
    TargetSpec r = resolve(spec);
    if (m.getNamedMetadata(kTargetMd))
        throw InvalidArgumentError("prepare: module '" + m.getModuleIdentifier() +
                                   "' was already prepared");
    std::string kname(kernel_name);
    const CompileSubject subject = subject_of(m, kname, r);
    detail::DiagnosticScope diags(m.getContext());
    detail::verify(m, "input", subject);

    // What the backend would abort the process on, rejected before it gets there.
    for (const auto& f : m)
        if (std::string why = unsupported(f); !why.empty())
            throw LoweringError(why + " [" + to_string(r) + "]", f.getName().str());
    for (const auto& g : m.globals())
        if (const llvm::Type* bad = first_unlowerable(
                g.getValueType(), [this](const llvm::Type& t) { return lowers_float(t); }))
            throw LoweringError("global @" + excerpt(g.getName().str()) + " holds " +
                                type_str(*bad) + ", which " + std::string(to_string(kind())) +
                                " cannot lower [" + to_string(r) + "]");

    llvm::Function* kernel = m.getFunction(llvm::StringRef(kernel_name.data(), kernel_name.size()));
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
    const AddressSpaceMap spaces = address_spaces();
    std::uint64_t shared_bytes = builtins::shared_layout(m, spaces).size;
    for (auto& g : m.globals())
        if (g.getAddressSpace() == spaces.shared)
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

    detail::verify(m, "after lowering for " + to_string(r), subject);
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
}

std::chrono::nanoseconds Target::optimize(llvm::Module& m, const TargetSpec& spec) const {
    auto start = Clock::now();
    TargetSpec r = resolve(spec);
    check_prepared(m, r, "optimize");
    auto tm = target_machine(r);
    detail::optimize_module(m, *tm, r.opt_level,
                            subject_of(m, md_string(m.getNamedMetadata(kKernelMd), 0), r));
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

    const CompileSubject subject = subject_of(m, a.kernel_symbol, r);
    finish(detail::codegen(m, *tm, emits_assembly(), subject), r, subject, a);
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
    for (auto& g : m.global_values())
        if (g.getName().starts_with(derived))
            g.setName(now + g.getName().substr(old.size()).str());
    auto& ctx = m.getContext();
    md->setOperand(0, llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, now)}));
    return now;
}

} // namespace kcache
