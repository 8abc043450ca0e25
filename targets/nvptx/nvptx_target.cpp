#include "targets/nvptx/nvptx_target.hpp"

#include "targets/builtins.hpp"
#include "targets/llvm/llvm_support.hpp"
#include "targets/nvptx/cuda_paths.hpp"
#include "targets/nvptx/nvjitlink.hpp"
#include "targets/target_errors.hpp"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace kcache {

struct NvptxTarget::Libdevice {
    std::once_flag once;
    std::unique_ptr<llvm::MemoryBuffer> buffer; // null when absent or unreadable
    std::string error;
    std::string identity; // for toolchain()
};

namespace {

std::atomic<bool> nvjitlink_crashed{false};

class NvptxLowering final : public builtins::Lowering {
public:
    NvptxLowering(llvm::Module& m, bool have_libdevice, std::string libdevice_why)
        : m_(m), have_libdevice_(have_libdevice), why_(std::move(libdevice_why)) {}

    llvm::Value* index(llvm::IRBuilder<>& b, builtins::IndexKind kind, int dim) override {
        using namespace llvm::Intrinsic;
        static constexpr ID kIds[4][3] = {
            {nvvm_read_ptx_sreg_tid_x, nvvm_read_ptx_sreg_tid_y, nvvm_read_ptx_sreg_tid_z},
            {nvvm_read_ptx_sreg_ctaid_x, nvvm_read_ptx_sreg_ctaid_y, nvvm_read_ptx_sreg_ctaid_z},
            {nvvm_read_ptx_sreg_ntid_x, nvvm_read_ptx_sreg_ntid_y, nvvm_read_ptx_sreg_ntid_z},
            {nvvm_read_ptx_sreg_nctaid_x, nvvm_read_ptx_sreg_nctaid_y,
             nvvm_read_ptx_sreg_nctaid_z}};
        return b.CreateIntrinsic(kIds[static_cast<int>(kind)][dim], {}, {});
    }

    void barrier(llvm::IRBuilder<>& b) override {
        b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
    }

    llvm::SyncScope::ID atomic_scope(llvm::LLVMContext&) override {
        return llvm::SyncScope::System;
    }

    llvm::Value* math(llvm::IRBuilder<>& b, builtins::MathOp op, llvm::Type* ty,
                      llvm::ArrayRef<llvm::Value*> args, std::string_view builtin) override {
        if (have_libdevice_) {
            // libdevice: __nv_sqrtf (float) / __nv_sqrt (double), same for every op.
            std::string name =
                "__nv_" + std::string(builtins::name(op)) + (ty->isFloatTy() ? "f" : "");
            std::vector<llvm::Type*> params(args.size(), ty);
            auto callee = m_.getOrInsertFunction(name, llvm::FunctionType::get(ty, params, false));
            return b.CreateCall(callee, args);
        }
        if (builtins::gpu_selects_natively(op))
            return builtins::emit_intrinsic(b, op, ty, args);
        throw LoweringError("@" + std::string(builtin) + " needs libdevice on nvptx, which is " +
                                why_,
                            b.GetInsertBlock()->getParent()->getName().str());
    }

private:
    llvm::Module& m_;
    bool have_libdevice_;
    std::string why_;
};

} // namespace

NvptxOptions NvptxOptions::from_environment() {
    NvptxOptions o;
    o.libdevice_path = detail::find_libdevice();
    return o;
}

NvptxTarget::NvptxTarget() : NvptxTarget(NvptxOptions::from_environment()) {}
NvptxTarget::NvptxTarget(NvptxOptions options)
    : options_(std::move(options)), libdevice_(std::make_unique<Libdevice>()) {}
NvptxTarget::~NvptxTarget() = default;

std::vector<std::string> NvptxTarget::supported_archs() const {
    static const std::vector<std::string> archs = [this] { // fixed for this LLVM: compute once
        std::vector<std::string> v;
        for (auto& cpu : detail::known_cpus(triple())) {
            // sm_50 and newer: older ones are gone from every CUDA that can still load them.
            if (cpu.size() >= 5 && cpu.rfind("sm_", 0) == 0 && cpu[3] >= '5')
                v.push_back(cpu);
        }
        std::sort(v.begin(), v.end());
        return v;
    }();
    return archs;
}

std::string NvptxTarget::ptx_feature(const std::string& arch) {
    // Lowest PTX ISA each arch needs (PTX ISA manual, "Target ISA notes").
    static const std::pair<const char*, int> kMinPtx[] = {
        {"sm_90a", 80}, {"sm_90", 78}, {"sm_89", 78}, {"sm_87", 74}, {"sm_86", 71},
        {"sm_80", 70},  {"sm_75", 63}, {"sm_72", 61}, {"sm_70", 60}};
    int version = 60;
    for (auto [a, v] : kMinPtx)
        if (arch == a)
            version = v;
    return "+ptx" + std::to_string(version);
}

std::unique_ptr<llvm::TargetMachine> NvptxTarget::target_machine(const TargetSpec& spec) const {
    return detail::make_target_machine(triple(), spec.arch, ptx_feature(spec.arch), spec.opt_level,
                                       std::nullopt);
}

void NvptxTarget::lower(llvm::Module& m, llvm::Function& kernel, const TargetSpec& spec) const {
    auto& ctx = m.getContext();
    // LLVM 19 accepts the calling convention; nvvm.annotations is kept for tools that read it.
    kernel.setCallingConv(llvm::CallingConv::PTX_Kernel);
    m.getOrInsertNamedMetadata("nvvm.annotations")
        ->addOperand(llvm::MDNode::get(
            ctx, {llvm::ValueAsMetadata::get(&kernel), llvm::MDString::get(ctx, "kernel"),
                  llvm::ConstantAsMetadata::get(
                      llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), 1))}));

    const Libdevice& libdev = libdevice();
    NvptxLowering lowering(m, libdev.buffer != nullptr, libdev.error);
    builtins::lower(m, lowering, address_spaces());

    bool needs_libdevice = false;
    for (auto& f : m)
        needs_libdevice |= f.isDeclaration() && f.getName().starts_with("__nv_");
    if (needs_libdevice && !libdev.buffer)
        throw LoweringError("the module calls libdevice (__nv_*) functions, but libdevice is " +
                            libdev.error);
    if (needs_libdevice) {
        // Lazy: only the functions the kernel references are read and linked. The file comes
        // from disk, so LLVM reads it in a region, like any input.
        const detail::CompileSubject subject{kernel.getName().str(), m.getModuleIdentifier(),
                                             to_string(spec)};
        std::unique_ptr<llvm::Module> lib;
        std::string error;
        detail::contain(&ctx, "read libdevice", subject, [&] {
            auto read = llvm::getLazyBitcodeModule(libdev.buffer->getMemBufferRef(), ctx);
            if (read)
                lib = std::move(*read);
            else
                error = detail::take_message(read.takeError());
        });
        if (!lib)
            throw LoweringError("cannot read libdevice " + options_.libdevice_path + ": " + error);
        lib->setTargetTriple(m.getTargetTriple());
        lib->setDataLayout(m.getDataLayout());
        detail::DiagnosticScope diags(ctx); // the linker reports through the context
        bool failed = false;
        // Linking materialises the bitcode read from disk: in a region, like any LLVM input.
        detail::contain(&ctx, "link libdevice", subject, [&] {
            failed = llvm::Linker::linkModules(m, std::move(lib), llvm::Linker::LinkOnlyNeeded);
        });
        if (failed)
            throw LoweringError("linking libdevice " + options_.libdevice_path +
                                " failed: " + diags.errors());
        for (auto& f : m)
            if (!f.isDeclaration() && &f != &kernel)
                f.setLinkage(llvm::GlobalValue::InternalLinkage);
    }

    for (auto& f : m)
        // __nvvm_reflect (from libdevice) is folded by the backend's NVVMReflect pass.
        if (f.isDeclaration() && !f.isIntrinsic() && !f.use_empty() &&
            f.getName() != "__nvvm_reflect")
            throw LoweringError("@" + f.getName().str() +
                                    " is called but not defined; nvptx kernels cannot call "
                                    "external functions",
                                f.getName().str());
}

const NvptxTarget::Libdevice& NvptxTarget::libdevice() const {
    std::call_once(libdevice_->once, [this] {
        if (options_.libdevice_path.empty()) {
            libdevice_->error = "not configured (no CUDA installation found)";
            libdevice_->identity = "no libdevice";
            return;
        }
        auto buf = llvm::MemoryBuffer::getFile(options_.libdevice_path);
        if (!buf) {
            libdevice_->error =
                "unreadable at " + options_.libdevice_path + ": " + buf.getError().message();
            libdevice_->identity = "no libdevice";
            return;
        }
        libdevice_->buffer = std::move(*buf);
        auto digest =
            llvm::BLAKE3::hash(llvm::arrayRefFromStringRef(libdevice_->buffer->getBuffer()));
        libdevice_->identity = "libdevice " + llvm::toHex(digest, /*LowerCase=*/true);
    });
    return *libdevice_;
}

std::string NvptxTarget::tools() const {
    if (!options_.use_nvjitlink)
        return "PTX only: nvJitLink disabled";
    const auto* jit = detail::NvJitLink::get();
    return jit ? jit->identity() : "PTX only: no nvJitLink";
}

std::string NvptxTarget::libraries() const {
    return libdevice().identity;
}

void NvptxTarget::finish(std::vector<char> out, const TargetSpec& spec,
                         const detail::CompileSubject& subject, Artifact& a) const {
    a.ptx.assign(out.begin(), out.end());
    a.format = "ptx";
    a.bytes.assign(out.begin(), out.end());
    if (!options_.use_nvjitlink) {
        a.notes = "cubin not requested (nvJitLink disabled)";
        return;
    }
    std::string why;
    const auto* jit = detail::NvJitLink::get(&why);
    if (!jit) {
        a.notes = why;
        return;
    }
    if (nvjitlink_crashed.load(std::memory_order_acquire)) {
        a.notes = "nvJitLink crashed earlier in this process and is not used again";
        return;
    }
    detail::NvJitLink::Result result;
    if (auto crash = detail::run_contained(
            nullptr, [&] { result = jit->ptx_to_cubin(a.ptx, spec.arch, spec.opt_level); })) {
        nvjitlink_crashed.store(true, std::memory_order_release); // its state is unknown now
        throw LoweringCrashError("nvJitLink", subject.kernel, subject.module, subject.target,
                                 crash->describe(), crash->signal);
    }
    if (!result.cubin) {
        // PTX stays usable (the driver JIT-compiles it), so this is a note, not an error.
        a.notes = "nvJitLink (" + jit->library() + ") produced no cubin for " + spec.arch + ": " +
                  result.log;
        return;
    }
    a.format = "cubin";
    a.bytes = std::move(*result.cubin);
}

} // namespace kcache
