#include "targets/amdgpu/amdgpu_target.hpp"

#include "targets/amdgpu/lld_link.hpp"
#include "targets/builtins.hpp"
#include "targets/llvm/llvm_support.hpp"
#include "targets/target_errors.hpp"

#include <llvm/IR/IntrinsicsAMDGPU.h>
#include <llvm/IR/Module.h>

#include <algorithm>

namespace lld {
// lld/Common/Version.h includes a Version.inc that Debian's liblld-19-dev does not ship; this is
// the one declaration it has (defined in lldCommon, which targets/ links).
std::string getLLDVersion();
} // namespace lld

namespace kcache {
namespace {

using builtins::MathOp;

// What the AMDGPU backend of LLVM 19 selects for float / double without a library call.
bool native_op(MathOp op, llvm::Type* ty) {
    if (builtins::gpu_selects_natively(op))
        return true;
    switch (op) {
    case MathOp::Exp:
    case MathOp::Exp2:
    case MathOp::Log:
    case MathOp::Log2:
    case MathOp::Log10:
    case MathOp::Sin:
    case MathOp::Cos:
        return ty->isFloatTy();
    default: // tan, pow
        return false;
    }
}

// Intrinsics that would become libm calls on AMDGPU, which has no libm: reported up front rather
// than as a backend failure. (Only the ones a front end plausibly emits directly.)
constexpr std::pair<llvm::Intrinsic::ID, MathOp> kLibcallIntrinsics[] = {
    {llvm::Intrinsic::exp, MathOp::Exp},     {llvm::Intrinsic::exp2, MathOp::Exp2},
    {llvm::Intrinsic::log, MathOp::Log},     {llvm::Intrinsic::log2, MathOp::Log2},
    {llvm::Intrinsic::log10, MathOp::Log10}, {llvm::Intrinsic::sin, MathOp::Sin},
    {llvm::Intrinsic::cos, MathOp::Cos},     {llvm::Intrinsic::tan, MathOp::Tan},
    {llvm::Intrinsic::pow, MathOp::Pow}};

// Code object v5 implicit kernel arguments (AMDGPUUsage, "Code Object V5 Metadata"):
// hidden_block_count_{x,y,z} are u32 at 0, 4, 8; hidden_group_size_{x,y,z} are u16 at 12, 14, 16.
constexpr unsigned kBlockCountOffset = 0;
constexpr unsigned kGroupSizeOffset = 12;

class AmdgpuLowering final : public builtins::Lowering {
public:
    llvm::Value* index(llvm::IRBuilder<>& b, builtins::IndexKind kind, int dim) override {
        using namespace llvm::Intrinsic;
        using builtins::IndexKind;
        static constexpr ID kWorkitem[3] = {amdgcn_workitem_id_x, amdgcn_workitem_id_y,
                                            amdgcn_workitem_id_z};
        static constexpr ID kWorkgroup[3] = {amdgcn_workgroup_id_x, amdgcn_workgroup_id_y,
                                             amdgcn_workgroup_id_z};
        switch (kind) {
        case IndexKind::ThreadIdx:
            return b.CreateIntrinsic(kWorkitem[dim], {}, {});
        case IndexKind::BlockIdx:
            return b.CreateIntrinsic(kWorkgroup[dim], {}, {});
        case IndexKind::BlockDim:
            return b.CreateZExt(implicit_arg(b, kGroupSizeOffset + 2 * dim, b.getInt16Ty()),
                                b.getInt32Ty());
        case IndexKind::GridDim:
            return implicit_arg(b, kBlockCountOffset + 4 * dim, b.getInt32Ty());
        }
        return nullptr;
    }

    void barrier(llvm::IRBuilder<>& b) override {
        // As HIP's __syncthreads: make the block's memory operations visible across the barrier.
        auto scope = b.getContext().getOrInsertSyncScopeID("workgroup");
        b.CreateFence(llvm::AtomicOrdering::Release, scope);
        b.CreateIntrinsic(llvm::Intrinsic::amdgcn_s_barrier, {}, {});
        b.CreateFence(llvm::AtomicOrdering::Acquire, scope);
    }

    llvm::SyncScope::ID atomic_scope(llvm::LLVMContext& ctx) override {
        return ctx.getOrInsertSyncScopeID("agent"); // device scope, as HIP's atomicAdd
    }

    llvm::Value* math(llvm::IRBuilder<>& b, MathOp op, llvm::Type* ty,
                      llvm::ArrayRef<llvm::Value*> args, std::string_view builtin) override {
        if (!native_op(op, ty))
            throw LoweringError("@" + std::string(builtin) +
                                    " has no in-process lowering on amdgpu (it needs the ROCm "
                                    "device libraries, which kcache does not link)",
                                b.GetInsertBlock()->getParent()->getName().str());
        return builtins::emit_intrinsic(b, op, ty, args);
    }

private:
    static llvm::Value* implicit_arg(llvm::IRBuilder<>& b, unsigned offset, llvm::Type* ty) {
        llvm::Value* base = b.CreateIntrinsic(llvm::Intrinsic::amdgcn_implicitarg_ptr, {}, {});
        llvm::Value* p = b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), base, offset);
        auto* load = b.CreateAlignedLoad(ty, p, llvm::Align(ty->getPrimitiveSizeInBits() / 8));
        load->setMetadata(llvm::LLVMContext::MD_invariant_load,
                          llvm::MDNode::get(b.getContext(), {}));
        return load;
    }
};

} // namespace

std::vector<std::string> AmdgpuTarget::supported_archs() const {
    static const std::vector<std::string> archs = [this] { // fixed for this LLVM: compute once
        std::vector<std::string> v;
        for (auto& cpu : detail::known_cpus(triple()))
            if (cpu.rfind("gfx", 0) == 0 && cpu.find("generic") == std::string::npos)
                v.push_back(cpu);
        std::sort(v.begin(), v.end());
        return v;
    }();
    return archs;
}

std::unique_ptr<llvm::TargetMachine> AmdgpuTarget::target_machine(const TargetSpec& spec) const {
    return detail::make_target_machine(triple(), spec.arch, "", spec.opt_level, llvm::Reloc::PIC_);
}

void AmdgpuTarget::lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const {
    kernel.setCallingConv(llvm::CallingConv::AMDGPU_KERNEL);
    // Pin code object v5: block_dim/grid_dim read its implicit-argument layout.
    m.setModuleFlag(llvm::Module::Error, "amdhsa_code_object_version",
                    llvm::ConstantInt::get(llvm::Type::getInt32Ty(m.getContext()), 500));

    AmdgpuLowering lowering;
    builtins::lower(m, lowering, address_spaces());

    for (auto& f : m) {
        if (!f.isDeclaration() || f.use_empty())
            continue;
        if (!f.isIntrinsic())
            throw LoweringError("@" + f.getName().str() +
                                    " is called but not defined; amdgpu kernels cannot call "
                                    "external functions",
                                f.getName().str());
        for (auto [id, op] : kLibcallIntrinsics)
            if (f.getIntrinsicID() == id && !native_op(op, f.getReturnType()->getScalarType()))
                throw LoweringError("@" + f.getName().str() + " is not supported on amdgpu " +
                                        spec.arch + " without the ROCm device libraries",
                                    f.getName().str());
    }
}

void AmdgpuTarget::finish(std::vector<char> out, const TargetSpec&,
                          const detail::CompileSubject& subject, Artifact& a) const {
    a.format = "hsaco";
    a.bytes = detail::lld_link_shared(out, subject);
}

std::string AmdgpuTarget::tools() const {
    return lld::getLLDVersion();
}

} // namespace kcache
