// `kcache compile`: one kernel specialisation -- a library kernel, or the user's own LLVM IR
// (--ir) -- compiled through the cache and the store, written as PTX, a cubin, an HSACO, a host
// object, LLVM IR or assembly.
#include "command.hpp"
#include "core/excerpt.hpp"
#include "core/method_table.hpp"
#include "ir_output.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "kernels/type_names.hpp"
#include "output.hpp"
#include "provenance.hpp"
#include "store/store.hpp"
#include "store/tiers/disk/persistent_stats.hpp"
#include "targets/target.hpp"
#include "targets/target_registry.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

namespace kcache::cli {
namespace {

constexpr std::size_t kMaxIRBytes = std::size_t(64) << 20;

struct Options {
    std::string kernel;
    std::string kernel_flag;
    std::string ir;
    std::optional<std::string> types;
    std::string target = "nvptx";
    std::string arch;
    int opt_level = 2;
    std::string emit;
    std::string output;
    bool verbose = false;
};

// What each file extension asks for when --emit does not say.
struct Extension {
    std::string_view ext, emit;
};
constexpr Extension kExtensions[] = {{".ptx", "ptx"},  {".cubin", "cubin"}, {".hsaco", "hsaco"},
                                     {".o", "object"}, {".obj", "object"},  {".ll", "llvm"},
                                     {".s", "asm"},    {".asm", "asm"}};

std::string_view emit_of_extension(const std::string& path) {
    const std::string ext = std::filesystem::path(path).extension().string();
    for (const auto& e : kExtensions)
        if (e.ext == ext)
            return e.emit;
    return {};
}

std::string extension_of_emit(std::string_view emit) {
    for (const auto& e : kExtensions)
        if (e.emit == emit)
            return std::string(e.ext);
    return "." + std::string(emit);
}

bool is_text(std::string_view emit) {
    return emit == "ptx" || emit == "llvm" || emit == "asm";
}

std::string type_list(Type tt) {
    std::string s;
    for (Type t : tt.elements())
        s += (s.empty() ? "" : ",") + t.str();
    return s;
}

// The overlay the user's IR methods go to: over the global table, so that IR can call the
// library's generic functions (muladd, exp) by the convention.
MethodTable& ir_table() {
    static MethodTable& table = MethodTable::create_overlay("kcache.ir");
    return table;
}

int run_compile(const Options& o, Session& session) {
    // --- what to compile ---
    std::string name = o.kernel.empty() ? o.kernel_flag : o.kernel;
    if (!o.kernel.empty() && !o.kernel_flag.empty() && o.kernel != o.kernel_flag)
        throw UsageError("two kernels named: '" + excerpt(o.kernel) + "' and --kernel '" +
                         excerpt(o.kernel_flag) + "'");
    if (name.empty())
        throw UsageError(o.ir.empty() ? "no kernel given (see `kcache kernels`)"
                                      : "--ir needs --kernel NAME: the function the IR defines");
    const TargetKind kind = TargetRegistry::find(o.target);
    if (!kind)
        throw UsageError("unknown target '" + excerpt(o.target) + "' (" + TargetRegistry::names() +
                         ")");
    const Target& target = kind.target();

    // --- what to write, and where ---
    std::vector<std::string> emits = target.artifact_formats();
    emits.push_back("llvm");
    emits.push_back("asm");
    std::string emit = o.emit;
    const bool to_stdout_asked = o.output == "-";
    const std::string_view ext_emit =
        o.output.empty() || to_stdout_asked ? std::string_view() : emit_of_extension(o.output);
    if (!emit.empty() && !ext_emit.empty() && emit != ext_emit)
        throw UsageError("-o '" + excerpt(o.output) + "' names " + std::string(ext_emit) +
                         " output, but --emit asks for " + emit +
                         " (the extension only supplies a default)");
    if (emit.empty())
        emit = ext_emit.empty() ? emits.front() : std::string(ext_emit);
    if (std::find(emits.begin(), emits.end(), emit) == emits.end()) {
        std::string valid;
        for (const auto& e : emits)
            valid += (valid.empty() ? "" : ", ") + e;
        throw UsageError(o.target + " cannot emit " + emit + " (it emits " + valid + ")");
    }
    const bool text = is_text(emit);
    const bool to_stdout = to_stdout_asked || (o.output.empty() && text);
    if (to_stdout && !text && session.terminal.out)
        throw UsageError("refusing to write binary " + emit +
                         " to a terminal; use -o FILE, or redirect standard output");

    // --- the kernel ---
    MethodTable* table = &MethodTable::global();
    Type tt;
    const Function* f = nullptr;
    if (o.ir.empty()) {
        auto all = kernels::register_all();
        const kernels::KernelInfo* info = kernels::find_kernel(all, name);
        if (!info) {
            std::string names;
            for (const auto& k : all)
                names += " " + k.name;
            throw UsageError("unknown kernel '" + excerpt(name) + "'; kernels:" + names +
                             " (or --ir FILE.ll --kernel NAME for your own)");
        }
        try {
            tt = o.types ? kernels::parse_type_list(*o.types) : info->examples.front();
        } catch (const Error& e) {
            throw UsageError(std::string("--types: ") + e.what());
        }
        f = &Function::named(info->name);
    } else {
        if (!o.types)
            throw UsageError("--ir needs --types: the kernel's argument types, e.g. "
                             "'Float32,Ptr{Float32},Int32' (LLVM types cannot tell Int32 from "
                             "UInt32, nor say what a pointer points to)");
        try {
            tt = kernels::parse_type_list(*o.types);
        } catch (const Error& e) {
            throw UsageError(std::string("--types: ") + e.what());
        }
        std::string code = read_file(o.ir, kMaxIRBytes);
        kernels::register_all(); // the library's generic functions, which the IR may call
        const bool bitcode = code.starts_with("BC\xC0\xDE");
        Function& fn = Function::define(name);
        std::vector<Type> params(tt.elements().begin(), tt.elements().end());
        table = &ir_table();
        kernels::add_ir_method(
            *table, fn, Signature(params),
            bitcode ? kernels::LlvmIR::bitcode(std::vector<std::uint8_t>(code.begin(), code.end()))
                    : kernels::LlvmIR::text(std::move(code)));
        f = &fn;
    }
    const TargetSpec spec{kind, o.arch, o.opt_level};
    store::Store& store = store::process_store();
    store::StatsRecorder stats(store);
    kernels::KernelCompiler compiler(*table, table->name(), &store);
    const std::string what = f->name() + "(" + type_list(tt) + ") for " + o.target;

    // --- compile ---
    std::string bytes;
    std::string described; // what -v says about it
    const auto start = std::chrono::steady_clock::now();
    auto ms_since_start = [&] {
        const std::chrono::duration<double, std::milli> d =
            std::chrono::steady_clock::now() - start;
        char text[32];
        std::snprintf(text, sizeof text, "%.3f ms", d.count());
        return std::string(text);
    };
    try {
        if (emit == "llvm" || emit == "asm") {
            bytes = emit_text(compiler, *f, tt, spec,
                              emit == "llvm" ? TextForm::LlvmIR : TextForm::Assembly);
            described = "built in " + ms_since_start() + " (LLVM IR and assembly are not stored)";
        } else {
            Provenance provenance(compiler, store);
            kernels::ArtifactPtr a = compiler.compile(*f, tt, spec);
            const Origin origin = provenance.since_mark();
            described = origin.str() + " in " + ms_since_start();
            if (emit == a->format)
                bytes.assign(a->bytes.begin(), a->bytes.end());
            else if (emit == "ptx" && !a->ptx.empty())
                bytes = a->ptx;
            else
                throw Error("no " + emit + " for " + what + ":" + a->arch + ":O" +
                            std::to_string(a->opt_level) + ": " +
                            (a->notes.empty() ? "the target produced " + a->format : a->notes) +
                            (a->ptx.empty() ? "" : " (--emit ptx gives the PTX)"));
        }
        if (o.verbose)
            described += ", content key " + content_key_hex(compiler, *f, tt, spec);
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        if (o.ir.empty())
            throw;
        throw Error(excerpt(o.ir) + ": " + e.what()); // which file the line numbers are in
    }
    const std::string full =
        what + ":" + target.resolve(spec).arch + ":O" + std::to_string(o.opt_level);
    if (o.verbose)
        session.note(full + ": " + described);

    // --- write ---
    if (to_stdout) {
        session.out << bytes;
        return kOk;
    }
    const std::string path = o.output.empty() ? f->name() + extension_of_emit(emit) : o.output;
    write_file_atomically(path, bytes);
    session.note("wrote " + emit + " of " + full + " to " + excerpt(path) + " (" +
                 std::to_string(bytes.size()) + " bytes)");
    return kOk;
}

} // namespace

void add_compile_command(CLI::App& app, Session& session) {
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "compile", "compile one kernel to PTX, a cubin, an HSACO, a host object, LLVM IR or asm");
    cmd->footer(
        "Compiles one specialisation of a library kernel (see `kcache kernels`), or of your own "
        "LLVM IR kernel (--ir), through the cache and the store: compiled once, it is read from "
        "the store afterwards. The kernel symbol is the store's canonical kcache_kernel.\n\n"
        "Output: --emit chooses it; without --emit, the extension of -o FILE does (.ptx .cubin "
        ".hsaco .o .ll .s), else the target's first format (nvptx: ptx, amdgpu: hsaco, host: "
        "object). Text (ptx, llvm, asm) goes to standard output unless -o names a file; binary "
        "output goes to -o FILE, or KERNEL.EXT in the current directory (-o - writes it to "
        "standard output, but never to a terminal). A cubin needs nvJitLink and an arch it "
        "takes (see `kcache targets`).\n\n"
        "Examples:\n"
        "  kcache compile saxpy                      PTX for the default arch on stdout\n"
        "  kcache compile saxpy --arch sm_90 -o s.cubin\n"
        "  kcache compile vadd --target amdgpu --arch gfx942      writes vadd.hsaco\n"
        "  kcache compile k --ir k.ll --kernel k --types 'Ptr{Float32},Int32' --target host");
    cmd->add_option("kernel", o->kernel, "the kernel's name, e.g. saxpy");
    cmd->add_option("--kernel", o->kernel_flag, "the same, for --ir: the function the IR defines");
    cmd->add_option("--ir", o->ir,
                    "FILE.ll (or bitcode): your kernel in LLVM IR, by the convention in the "
                    "README (\"Your own IR\"); needs --kernel and --types");
    cmd->add_option("--types", o->types,
                    "argument types, e.g. 'Float32,Ptr{Float32},Ptr{Float32},Int32' (quote it); "
                    "default: the library kernel's example");
    cmd->add_option("--target", o->target,
                    "a registered target: " + TargetRegistry::names() + " (default nvptx)");
    cmd->add_option("--arch", o->arch,
                    "nvptx: sm_XX, amdgpu: gfxNNN, host: an LLVM CPU name; default: the "
                    "target's (see `kcache targets`)");
    cmd->add_option("-O", o->opt_level, "optimisation level 0..3 (default 2); -O3 or -O 3")
        ->check(CLI::Range(0, 3));
    cmd->add_option("--emit", o->emit,
                    "ptx, cubin (nvptx), hsaco (amdgpu), object (host), llvm, asm")
        ->check(CLI::IsMember({"ptx", "cubin", "hsaco", "object", "llvm", "asm"}));
    cmd->add_option("-o", o->output, "FILE, or - for standard output");
    cmd->add_flag("-v,--verbose", o->verbose,
                  "say where the code came from (compiled, memory, disk, redis), its time and "
                  "its content key");
    on_parsed(*cmd, session, "compile", [o, &session] { return run_compile(*o, session); });
}

} // namespace kcache::cli
