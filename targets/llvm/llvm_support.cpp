#include "targets/llvm/llvm_support.hpp"

#include "targets/target_errors.hpp"

#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

namespace kcache::detail {

void initialize_llvm() {
    static std::once_flag once;
    std::call_once(once, [] {
        llvm::InitializeAllTargetInfos();
        llvm::InitializeAllTargets();
        llvm::InitializeAllTargetMCs();
        llvm::InitializeAllAsmPrinters();
        llvm::InitializeAllAsmParsers(); // inline asm in kernels
    });
}

namespace {

const llvm::Target& lookup(const std::string& triple) {
    initialize_llvm();
    std::string error;
    const llvm::Target* t = llvm::TargetRegistry::lookupTarget(triple, error);
    if (!t)
        throw LoweringError("no LLVM backend for triple '" + triple + "': " + error);
    return *t;
}

llvm::CodeGenOptLevel codegen_level(int opt_level) {
    switch (opt_level) {
    case 0:
        return llvm::CodeGenOptLevel::None;
    case 1:
        return llvm::CodeGenOptLevel::Less;
    case 2:
        return llvm::CodeGenOptLevel::Default;
    default:
        return llvm::CodeGenOptLevel::Aggressive;
    }
}

} // namespace

std::unique_ptr<llvm::TargetMachine> make_target_machine(const std::string& triple,
                                                         const std::string& cpu,
                                                         const std::string& features, int opt_level,
                                                         std::optional<llvm::Reloc::Model> reloc) {
    const llvm::Target& t = lookup(triple);
    llvm::TargetOptions options;
    std::unique_ptr<llvm::TargetMachine> tm(t.createTargetMachine(
        triple, cpu, features, options, reloc, std::nullopt, codegen_level(opt_level)));
    if (!tm)
        throw LoweringError("LLVM could not create a target machine for " + triple + " / " + cpu);
    return tm;
}

std::vector<std::string> known_cpus(const std::string& triple) {
    const llvm::Target& t = lookup(triple);
    std::unique_ptr<llvm::MCSubtargetInfo> sti(t.createMCSubtargetInfo(triple, "", ""));
    std::vector<std::string> cpus;
    if (sti)
        for (const auto& kv : sti->getAllProcessorDescriptions())
            cpus.emplace_back(kv.Key);
    return cpus;
}

void verify(llvm::Module& m, std::string_view stage, const CompileSubject& subject) {
    contain(&m.getContext(), "verify", subject, [&] {
        for (auto& f : m) {
            if (f.isDeclaration())
                continue;
            std::string msg;
            llvm::raw_string_ostream os(msg);
            if (llvm::verifyFunction(f, &os))
                throw VerifierError("invalid IR (" + std::string(stage) + ") in function @" +
                                        f.getName().str() + ": " + msg,
                                    f.getName().str());
        }
        std::string msg;
        llvm::raw_string_ostream os(msg);
        if (llvm::verifyModule(m, &os))
            throw VerifierError("invalid IR (" + std::string(stage) + "): " + msg);
    });
}

void optimize_module(llvm::Module& m, llvm::TargetMachine& tm, int opt_level,
                     const CompileSubject& subject) {
    DiagnosticScope diags(m.getContext());
    contain(&m.getContext(), "optimize", subject, [&] {
        llvm::LoopAnalysisManager lam;
        llvm::FunctionAnalysisManager fam;
        llvm::CGSCCAnalysisManager cgam;
        llvm::ModuleAnalysisManager mam;
        llvm::PassBuilder pb(&tm);
        pb.registerModuleAnalyses(mam);
        pb.registerCGSCCAnalyses(cgam);
        pb.registerFunctionAnalyses(fam);
        pb.registerLoopAnalyses(lam);
        pb.crossRegisterProxies(lam, fam, cgam, mam);

        static constexpr const llvm::OptimizationLevel* kLevels[] = {
            &llvm::OptimizationLevel::O0, &llvm::OptimizationLevel::O1,
            &llvm::OptimizationLevel::O2, &llvm::OptimizationLevel::O3};
        llvm::ModulePassManager mpm = opt_level == 0
                                          ? pb.buildO0DefaultPipeline(llvm::OptimizationLevel::O0)
                                          : pb.buildPerModuleDefaultPipeline(*kLevels[opt_level]);
        mpm.run(m, mam);
    });
    if (diags.has_errors())
        throw LoweringError("optimisation failed: " + diags.errors());
}

std::vector<char> codegen(llvm::Module& m, llvm::TargetMachine& tm, bool assembly,
                          const CompileSubject& subject) {
    llvm::SmallVector<char, 0> buffer;
    DiagnosticScope diags(m.getContext());
    bool can_emit = true;
    contain(&m.getContext(), "codegen", subject, [&] {
        llvm::raw_svector_ostream os(buffer);
        llvm::legacy::PassManager pm;
        auto type =
            assembly ? llvm::CodeGenFileType::AssemblyFile : llvm::CodeGenFileType::ObjectFile;
        if (tm.addPassesToEmitFile(pm, os, nullptr, type)) {
            can_emit = false;
            return;
        }
        pm.run(m);
    });
    if (!can_emit)
        throw CodegenError("LLVM backend for " + tm.getTargetTriple().str() + " cannot emit " +
                           (assembly ? "assembly" : "object files"));
    if (diags.has_errors())
        throw CodegenError("code generation for " + tm.getTargetTriple().str() + " / " +
                           tm.getTargetCPU().str() + " failed: " + diags.errors());
    return {buffer.begin(), buffer.end()};
}

std::string take_message(llvm::Error err) {
    return llvm::toString(std::move(err));
}

} // namespace kcache::detail
