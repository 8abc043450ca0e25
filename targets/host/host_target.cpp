#include "targets/host/host_target.hpp"

#include "targets/builtins.hpp"
#include "targets/host/host_abi.hpp"
#include "targets/llvm/llvm_support.hpp"
#include "targets/target_errors.hpp"

#include <llvm/IR/Instructions.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/ReplaceConstant.h>
#include <llvm/TargetParser/Host.h>

#include <algorithm>
#include <map>

namespace kcache {
namespace {

constexpr const char* kLaunchArgName = "kcache.launch";

llvm::Argument* launch_arg(llvm::Function& f) {
    return f.getArg(f.arg_size() - 1);
}

llvm::Value* field_ptr(llvm::IRBuilder<>& b, llvm::Value* launch, std::size_t offset) {
    return b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), launch, offset);
}

class HostLowering final : public builtins::Lowering {
public:
    llvm::Value* index(llvm::IRBuilder<>& b, builtins::IndexKind kind, int dim) override {
        static constexpr std::size_t kOffsets[] = {host::kThreadIdxOffset, host::kBlockIdxOffset,
                                                   host::kBlockDimOffset, host::kGridDimOffset};
        llvm::Value* launch = launch_arg(*b.GetInsertBlock()->getParent());
        return b.CreateAlignedLoad(b.getInt32Ty(),
                                   field_ptr(b, launch, kOffsets[static_cast<int>(kind)] + 4 * dim),
                                   llvm::Align(4));
    }

    void barrier(llvm::IRBuilder<>& b) override {
        llvm::Value* launch = launch_arg(*b.GetInsertBlock()->getParent());
        llvm::Value* fn = b.CreateAlignedLoad(
            b.getPtrTy(), field_ptr(b, launch, host::kBarrierOffset), llvm::Align(8));
        auto* ty = llvm::FunctionType::get(b.getVoidTy(), {b.getPtrTy()}, false);
        b.CreateCall(ty, fn, {launch});
    }

    llvm::SyncScope::ID atomic_scope(llvm::LLVMContext&) override {
        return llvm::SyncScope::System;
    }

    llvm::Value* math(llvm::IRBuilder<>& b, builtins::MathOp op, llvm::Type* ty,
                      llvm::ArrayRef<llvm::Value*> args, std::string_view) override {
        return builtins::emit_intrinsic(b, op, ty, args); // libm where not inlined
    }
};

// Gives every defined function a trailing `ptr %kcache.launch` and passes it along at each call,
// so callees reach the launch context too. Functions may only be called directly.
void thread_launch_parameter(llvm::Module& m) {
    std::vector<llvm::Function*> defined;
    for (auto& f : m)
        if (!f.isDeclaration())
            defined.push_back(&f);

    std::vector<std::pair<llvm::CallInst*, llvm::Function*>> calls; // call, old callee
    for (auto* f : defined) {
        for (llvm::Use& u : f->uses()) {
            auto* call = llvm::dyn_cast<llvm::CallInst>(u.getUser());
            if (!call || !call->isCallee(&u))
                throw LoweringError("@" + f->getName().str() +
                                        " is used other than by a direct call; the host kernel "
                                        "ABI passes the launch context to every function, so "
                                        "functions cannot be address-taken",
                                    f->getName().str());
            if (call->getFunctionType() != f->getFunctionType())
                throw LoweringError("call to @" + f->getName().str() +
                                        " with a mismatched function type",
                                    call->getFunction()->getName().str());
            calls.emplace_back(call, f);
        }
    }

    std::map<llvm::Function*, llvm::Function*> replaced;
    for (auto* f : defined) {
        std::vector<llvm::Type*> params(f->getFunctionType()->param_begin(),
                                        f->getFunctionType()->param_end());
        params.push_back(llvm::PointerType::get(m.getContext(), 0));
        auto* ty = llvm::FunctionType::get(f->getReturnType(), params, f->isVarArg());
        auto* nf = llvm::Function::Create(ty, f->getLinkage(), f->getAddressSpace(), "", &m);
        nf->copyAttributesFrom(f);
        nf->takeName(f);
        nf->splice(nf->end(), f);
        for (unsigned i = 0; i < f->arg_size(); ++i) {
            f->getArg(i)->replaceAllUsesWith(nf->getArg(i));
            nf->getArg(i)->takeName(f->getArg(i));
        }
        launch_arg(*nf)->setName(kLaunchArgName);
        replaced[f] = nf;
    }

    for (auto [call, old] : calls) {
        std::vector<llvm::Value*> args(call->arg_begin(), call->arg_end());
        args.push_back(launch_arg(*call->getFunction())); // the caller's own, after splicing
        auto* nc = llvm::CallInst::Create(replaced[old], args, "", call->getIterator());
        nc->setCallingConv(call->getCallingConv());
        nc->setAttributes(call->getAttributes());
        nc->setTailCallKind(call->getTailCallKind());
        nc->setDebugLoc(call->getDebugLoc());
        nc->takeName(call);
        call->replaceAllUsesWith(nc);
        call->eraseFromParent();
    }
    for (auto [old, nf] : replaced)
        old->eraseFromParent();
}

// Rewrites each shared-memory global into `shared_memory + offset` of the launch context.
void lower_shared_memory(llvm::Module& m, const builtins::SharedLayout& layout, unsigned shared) {
    auto& ctx = m.getContext();
    std::map<llvm::Function*, llvm::Value*> bases;
    for (auto [g, offset] : layout.offsets) {
        llvm::convertUsersOfConstantsToInstructions({g});
        std::map<llvm::Function*, llvm::Value*> addrs;
        std::vector<llvm::Use*> uses;
        for (llvm::Use& u : g->uses())
            uses.push_back(&u);
        for (llvm::Use* u : uses) {
            auto* inst = llvm::dyn_cast<llvm::Instruction>(u->getUser());
            if (!inst)
                throw LoweringError("shared-memory global @" + g->getName().str() +
                                    " is referenced outside a function");
            llvm::Function* f = inst->getFunction();
            llvm::Value*& addr = addrs[f];
            if (!addr) {
                llvm::IRBuilder<> b(&*f->getEntryBlock().getFirstInsertionPt());
                llvm::Value*& base = bases[f];
                if (!base)
                    base = b.CreateAlignedLoad(
                        b.getPtrTy(), field_ptr(b, launch_arg(*f), host::kSharedMemoryOffset),
                        llvm::Align(8), "kcache.shared");
                // After the base load: an earlier global of this function already put it at
                // the entry's first insertion point, which this builder would come before.
                b.SetInsertPoint(llvm::cast<llvm::Instruction>(base)->getNextNode());
                addr =
                    b.CreateAddrSpaceCast(b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), base, offset),
                                          llvm::PointerType::get(ctx, shared), g->getName());
            }
            u->set(addr);
        }
        g->eraseFromParent();
    }
}

// Defines `void <kernel>.kcache.args(ptr args, ptr launch)`: loads each parameter from the
// pointer args[i] and calls the kernel, so that a runtime launches any kernel through one C
// signature (host_abi.hpp) without knowing its parameter types.
void define_args_entry(llvm::Module& m, llvm::Function& kernel, const std::string& kernel_name) {
    auto& ctx = m.getContext();
    auto* ptr = llvm::PointerType::get(ctx, 0);
    auto* ty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr}, false);
    auto* entry = llvm::Function::Create(ty, llvm::GlobalValue::ExternalLinkage,
                                         kernel_name + host::kArgsEntrySuffix, m);
    llvm::Argument* args = entry->getArg(0);
    llvm::Argument* launch = entry->getArg(1);
    args->setName("args");
    launch->setName(kLaunchArgName);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
    std::vector<llvm::Value*> values;
    const unsigned params = kernel.arg_size() - 1; // the launch context comes last
    for (unsigned i = 0; i < params; ++i) {
        llvm::Value* slot = b.CreateConstInBoundsGEP1_64(ptr, args, i);
        llvm::Value* value_ptr = b.CreateAlignedLoad(ptr, slot, llvm::Align(8));
        values.push_back(b.CreateLoad(kernel.getArg(i)->getType(), value_ptr));
    }
    values.push_back(launch);
    b.CreateCall(&kernel, values);
    b.CreateRetVoid();
}

} // namespace

std::string HostTarget::triple() const {
    return llvm::sys::getProcessTriple();
}

std::string HostTarget::default_arch() const {
    // Asked on every compile of an unresolved spec, and costly (cpuid and tables): once.
    static const std::string cpu = llvm::sys::getHostCPUName().str();
    return cpu;
}

std::vector<std::string> HostTarget::supported_archs() const {
    static const std::vector<std::string> archs = [this] { // fixed for this process: once
        auto v = detail::known_cpus(triple());
        v.push_back(default_arch());
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
        return v;
    }();
    return archs;
}

std::unique_ptr<llvm::TargetMachine> HostTarget::target_machine(const TargetSpec& spec) const {
    std::string features;
    if (spec.arch == default_arch())
        for (const auto& [name, on] : llvm::sys::getHostCPUFeatures())
            features += (features.empty() ? "" : ",") + std::string(on ? "+" : "-") + name.str();
    return detail::make_target_machine(triple(), spec.arch, features, spec.opt_level,
                                       llvm::Reloc::PIC_);
}

void HostTarget::lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec&) const {
    const std::string kernel_name = kernel.getName().str();
    const AddressSpaceMap spaces = address_spaces();
    builtins::SharedLayout layout = builtins::shared_layout(m, spaces);
    thread_launch_parameter(m); // replaces `kernel`

    HostLowering lowering;
    builtins::lower(m, lowering, spaces);
    lower_shared_memory(m, layout, spaces.shared);
    define_args_entry(m, *m.getFunction(kernel_name), kernel_name);

    // The runtime reads the shared-memory size from the object itself.
    auto* i64 = llvm::Type::getInt64Ty(m.getContext());
    new llvm::GlobalVariable(m, i64, /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage,
                             llvm::ConstantInt::get(i64, layout.size),
                             kernel_name + host::kSharedBytesSuffix);
}

void HostTarget::finish(std::vector<char> out, const TargetSpec&, const detail::CompileSubject&,
                        Artifact& a) const {
    a.format = artifact_formats().front();
    a.bytes.assign(out.begin(), out.end());
}

} // namespace kcache
