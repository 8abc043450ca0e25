// Cold kernel compilation in-process (KernelCompiler with a fresh cache per iteration) against
// the same prepared IR through llc-19 and ptxas run as separate processes.
//
//   BM_ColdCompile/<kernel>/<target>     build + prepare (ir_gen), optimise (opt), code
//                                        generation incl. nvJitLink/lld (codegen); ms/iteration
//   BM_ProcessPipeline/<kernel>/nvptx    the same work as separate processes of the classic
//                                        toolchain, spawned with posix_spawn (no shell): opt-19
//                                        -O2 on the prepared module (kcache's optimise step),
//                                        llc-19 -O2 (code generation), then ptxas (the cubin)
//
// Both use real time: the process pipeline's cost is mostly in the children.
#include "cold_compile.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "targets/nvptx/cuda_paths.hpp"
#include "targets/nvptx/nvptx_target.hpp"
#include "targets/target.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using namespace kcache;
namespace fs = std::filesystem;

// Runs argv[0] with argv (no shell); returns its exit status or -1.
int spawn_wait(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

std::string find_llvm_tool(const std::string& name) {
    for (const std::string& p : {"/usr/bin/" + name + "-19", "/usr/lib/llvm-19/bin/" + name})
        if (fs::exists(p))
            return p;
    return {};
}

void process_pipeline(benchmark::State& state, const kernels::KernelInfo& info) {
    const std::string opt = find_llvm_tool("opt"), llc = find_llvm_tool("llc");
    const std::string ptxas = kcache::detail::cuda_home() + "/bin/ptxas";
    if (opt.empty() || llc.empty()) {
        state.SkipWithError("opt-19 or llc-19 not found (/usr/bin/*-19, /usr/lib/llvm-19/bin)");
        return;
    }
    if (!fs::exists(ptxas)) {
        state.SkipWithError(("ptxas not found at " + ptxas).c_str());
        return;
    }
    const TargetSpec spec = bench::spec_for(TargetKind::nvptx());
    const fs::path dir = fs::temp_directory_path() /
                         ("kcache-bench-" + std::to_string(::getpid()) + "-" + info.name);
    fs::create_directories(dir);
    const std::string ll = (dir / "k.ll").string(), bc = (dir / "k.opt.bc").string(),
                      ptx = (dir / "k.ptx").string(), cubin = (dir / "k.cubin").string();
    { // The same IR the in-process compile optimises: built, linked and prepared.
        llvm::LLVMContext ctx;
        kernels::KernelCompiler kc(MethodTable::global(), "bench-ir");
        auto m = kc.build_module(Function::named(info.name), info.examples.front(), spec, ctx);
        TargetKind::nvptx().target().prepare(*m, info.name, spec);
        std::error_code ec;
        llvm::raw_fd_ostream os(ll, ec);
        m->print(os, nullptr);
    }
    const std::vector<std::string> opt_args = {opt,
                                               "-O" + std::to_string(bench::kOptLevel),
                                               "-mtriple=nvptx64-nvidia-cuda",
                                               "-mcpu=" + spec.arch,
                                               "-mattr=" + NvptxTarget::ptx_feature(spec.arch),
                                               ll,
                                               "-o",
                                               bc};
    const std::vector<std::string> llc_args = {llc,
                                               "-O" + std::to_string(bench::kOptLevel),
                                               "-mtriple=nvptx64-nvidia-cuda",
                                               "-mcpu=" + spec.arch,
                                               "-mattr=" + NvptxTarget::ptx_feature(spec.arch),
                                               bc,
                                               "-o",
                                               ptx};
    const std::vector<std::string> ptxas_args = {
        ptxas, "-arch=" + spec.arch, "-O" + std::to_string(bench::kOptLevel), ptx, "-o", cubin};
    double opt_s = 0, llc_s = 0, ptxas_s = 0;
    std::int64_t iterations = 0;
    for (auto _ : state) {
        auto start = std::chrono::steady_clock::now();
        if (spawn_wait(opt_args) != 0) {
            state.SkipWithError("opt-19 failed on the prepared module");
            break;
        }
        auto t0 = std::chrono::steady_clock::now();
        if (spawn_wait(llc_args) != 0) {
            state.SkipWithError("llc-19 failed on opt-19's output");
            break;
        }
        auto t1 = std::chrono::steady_clock::now();
        if (spawn_wait(ptxas_args) != 0) {
            state.SkipWithError("ptxas failed on llc's PTX");
            break;
        }
        auto t2 = std::chrono::steady_clock::now();
        opt_s += std::chrono::duration<double>(t0 - start).count();
        llc_s += std::chrono::duration<double>(t1 - t0).count();
        ptxas_s += std::chrono::duration<double>(t2 - t1).count();
        ++iterations;
    }
    if (iterations) {
        state.counters["opt_ms"] = opt_s * 1e3 / double(iterations);
        state.counters["llc_ms"] = llc_s * 1e3 / double(iterations);
        state.counters["ptxas_ms"] = ptxas_s * 1e3 / double(iterations);
    }
    fs::remove_all(dir);
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    static const auto kernels = kernels::register_all();
    for (const auto& k : kernels) {
        for (TargetKind kind : {TargetKind::nvptx(), TargetKind::amdgpu(), TargetKind::host()})
            benchmark::RegisterBenchmark(
                ("BM_ColdCompile/" + k.name + "/" + std::string(to_string(kind))).c_str(),
                [&k, kind](benchmark::State& s) { bench::cold_compile(s, k, kind); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        benchmark::RegisterBenchmark(("BM_ProcessPipeline/" + k.name + "/nvptx").c_str(),
                                     [&k](benchmark::State& s) { process_pipeline(s, k); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
