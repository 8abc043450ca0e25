#include "commands.hpp"

#include "core/excerpt.hpp"
#include "demo.hpp"
#include "kernels/errors.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library.hpp"
#include "kernels/type_names.hpp"
#include "runtime/device_registry.hpp"
#include "store/store.hpp"
#include "targets/target.hpp"
#include "targets/target_registry.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>

namespace kcache::cli {
namespace {

std::string type_list(Type tt) {
    std::string s;
    for (Type t : tt.elements())
        s += (s.empty() ? "" : ",") + t.str();
    return s;
}

// --- kernels ---------------------------------------------------------------------------------

constexpr std::string_view kKernelsHelp = R"(usage: kcache kernels

Lists the kernels of the kcache kernel library: name, method signatures, what it computes and
how to launch it, and the --types of an example specialisation for `kcache compile`.
)";

int run_kernels(std::span<const std::string> args, std::ostream& out, std::ostream&) {
    if (!args.empty())
        throw UsageError{"unexpected argument '" + excerpt(args[0]) + "'"};
    for (const auto& k : kernels::register_all()) {
        out << k.name << "\n";
        for (const auto& s : k.signatures)
            out << "    " << s << "\n";
        out << "    " << k.description << "\n";
        out << "    example: --types '" << type_list(k.examples.front()) << "'\n";
    }
    return kOk;
}

// --- compile ---------------------------------------------------------------------------------

constexpr std::string_view kCompileHelp =
    R"(usage: kcache compile KERNEL [--types T,...] [--target TARGET]
                      [--arch ARCH] [-O N] [-o FILE]

Compiles one specialisation of a library kernel (see `kcache kernels`) and writes the result.

  KERNEL           the kernel's name, e.g. saxpy
  --types T,...    the argument types, comma separated lattice type names, e.g.
                   'Float32,Ptr{Float32},Ptr{Float32},Int32' (quote it for the shell); pointer
                   types are Ptr{T} (global memory) or Ptr{T, shared|generic|constant|local}.
                   Default: the kernel's example specialisation.
  --target TARGET  a registered target (listed below): nvptx, amdgpu, host, or one a program
                   embedding kcache registered. Default: host.
  --arch ARCH      nvptx: sm_XX (default sm_80); amdgpu: gfxNNN (default gfx90a); an unknown
                   arch lists the supported ones; host: an LLVM CPU name (default: this CPU).
  -O N, -ON        optimisation level 0..3. Default: 2.
  -o FILE          write the output to FILE instead of standard output.
  -h, --help       this text.

Output:
  nvptx    without -o: the PTX text on standard output. With -o FILE.ptx: the PTX. With any
           other -o FILE: the cubin (an ELF for ARCH, assembled in-process by nvJitLink) when
           one was produced; when none was (no nvJitLink, or it rejects ARCH) FILE.cubin is an
           error giving the reason, and any other name gets the PTX with a note on stderr.
  amdgpu   the HSACO code object (an ELF shared object); requires -o.
  host     a relocatable object for this machine's triple (see targets/host_abi.hpp for its
           calling convention); requires -o.
  Binary output is never written to standard output.

The code goes through the store (README, "The store"): compiled once, it is read from there
afterwards, and its kernel symbol is the canonical one, kcache_kernel, whatever the kernel's name.

A line on standard error says what was written where. Errors go to standard error; the exit
status is 1 when compiling fails and 2 for a bad command line.
)";

struct CompileOptions {
    std::string kernel;
    std::optional<std::string> types;
    std::string target = "host";
    std::string arch;
    int opt_level = 2;
    std::optional<std::string> output;
};

CompileOptions parse_compile(std::span<const std::string> args) {
    CompileOptions o;
    auto value = [&](std::size_t& i, const std::string& flag) -> const std::string& {
        if (i + 1 >= args.size())
            throw UsageError{flag + " needs a value"};
        return args[++i];
    };
    auto opt = [](const std::string& s) {
        if (s.size() != 1 || s[0] < '0' || s[0] > '3')
            throw UsageError{"optimisation level must be 0, 1, 2 or 3, not '" + excerpt(s) + "'"};
        return s[0] - '0';
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--types")
            o.types = value(i, a);
        else if (a.starts_with("--types="))
            o.types = a.substr(8);
        else if (a == "--target")
            o.target = value(i, a);
        else if (a.starts_with("--target="))
            o.target = a.substr(9);
        else if (a == "--arch")
            o.arch = value(i, a);
        else if (a.starts_with("--arch="))
            o.arch = a.substr(7);
        else if (a == "-O")
            o.opt_level = opt(value(i, a));
        else if (a.starts_with("-O"))
            o.opt_level = opt(a.substr(2));
        else if (a == "-o")
            o.output = value(i, a);
        else if (a.starts_with("-") && a.size() > 1)
            throw UsageError{"unknown option '" + excerpt(a) + "'"};
        else if (o.kernel.empty())
            o.kernel = a;
        else
            throw UsageError{"unexpected argument '" + excerpt(a) + "' (one kernel at a time)"};
    }
    if (o.kernel.empty())
        throw UsageError{"no kernel given"};
    if (!TargetRegistry::find(o.target))
        throw UsageError{"unknown target '" + excerpt(o.target) + "' (" + TargetRegistry::names() +
                         ")"};
    return o;
}

void write_file(const std::string& path, const void* data, std::size_t size) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f)
        throw Error("cannot open '" + excerpt(path) + "' for writing");
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!f.flush())
        throw Error("cannot write '" + excerpt(path) + "'");
}

int run_compile(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    CompileOptions o = parse_compile(args);
    auto all = kernels::register_all();
    const kernels::KernelInfo* info = kernels::find_kernel(all, o.kernel);
    if (!info) {
        std::string names;
        for (const auto& k : all)
            names += " " + k.name;
        throw UsageError{"unknown kernel '" + excerpt(o.kernel) + "'; kernels:" + names};
    }
    Type tt;
    try {
        tt = o.types ? kernels::parse_type_list(*o.types) : info->examples.front();
    } catch (const kernels::KernelTypeError& e) {
        throw UsageError{std::string("--types: ") + e.what()};
    }
    const TargetSpec spec{TargetKind::named(o.target), o.arch, o.opt_level};
    const bool nvptx = spec.kind == TargetKind::nvptx(); // text by default, or a cubin
    const bool binary = !nvptx || (o.output && !o.output->ends_with(".ptx"));
    if (binary && !o.output)
        throw UsageError{"refusing to write a binary " + o.target +
                         " object to standard output; use -o FILE"};

    kernels::KernelCompiler compiler(MethodTable::global(), "kcache.kernels",
                                     &store::process_store());
    kernels::ArtifactPtr a = compiler.compile(Function::named(info->name), tt, spec);

    const std::string what = info->name + "(" + type_list(tt) + ") for " +
                             std::string(to_string(spec.kind)) + ":" + a->arch + ":O" +
                             std::to_string(a->opt_level) + ", kernel symbol " + a->kernel_symbol;
    if (!o.output) { // nvptx text
        out << a->ptx;
        out.flush();
        return out ? kOk : kFailed;
    }
    if (nvptx && o.output->ends_with(".cubin") && a->format != "cubin")
        throw Error("no cubin for " + what + ": " + a->notes +
                    " (name the output *.ptx, or another extension, to get the PTX)");
    if (nvptx && (!binary || a->format != "cubin")) {
        if (binary)
            err << "kcache compile: note: writing PTX, no cubin: " << a->notes << "\n";
        write_file(*o.output, a->ptx.data(), a->ptx.size());
        err << "wrote PTX of " << what << " to " << *o.output << " (" << a->ptx.size()
            << " bytes)\n";
        return kOk;
    }
    write_file(*o.output, a->bytes.data(), a->bytes.size());
    err << "wrote " << a->format << " of " << what << " to " << *o.output << " (" << a->bytes.size()
        << " bytes)\n";
    return kOk;
}

// --- run -------------------------------------------------------------------------------------

constexpr std::string_view kRunHelp = R"(usage: kcache run [--device DEVICE|best]

Runs the kernel library on real data on one device: every kernel checked against a plain C++
reference, the cache's hits, and a redefinition that evicts a loaded module and loads the new
code, with timings. Code goes through the store (KCACHE_CACHE_DIR, see the README): each row says
where its code came from (compiled, memory, disk; "no IR" when no IR was built), and the store's
counters are printed per tier.

  --device D   a registered device driver (listed below): host, the CPU (always present); cuda
               or hip, the first GPU of that driver; best (default): the first device that is
               not the host when one is present, the host otherwise

Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage or when the device
is unavailable (the reason is printed).
)";

int run_run(std::span<const std::string> args, std::ostream& out, std::ostream&) {
    std::string device = "best";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] != "--device")
            throw UsageError{"unexpected argument '" + excerpt(args[i]) + "'"};
        if (i + 1 == args.size())
            throw UsageError{"--device needs a value: best or one of " +
                             runtime::DeviceRegistry::names()};
        try {
            device = parse_device_choice(args[++i]);
        } catch (const InvalidArgumentError& e) {
            throw UsageError{std::string("--device: ") + e.what()};
        }
    }
    return run_demo(out, device);
}

// What the registries hold, appended to the help of the commands that take their names.
std::string registered_targets() {
    return "\nRegistered targets: " + TargetRegistry::names() + "\n";
}
std::string registered_devices() {
    return "\nRegistered devices: " + runtime::DeviceRegistry::names() + "\n";
}
std::string no_registry() {
    return {};
}

constexpr Command kCommands[] = {
    {"kernels", "list the library's kernels and their signatures", kKernelsHelp, no_registry,
     run_kernels},
    {"compile", "compile one kernel specialisation to PTX/cubin, HSACO or a host object",
     kCompileHelp, registered_targets, run_compile},
    {"run", "run the kernel library on a device, checked, with a redefinition (the demo)", kRunHelp,
     registered_devices, run_run},
};

void print_usage(std::ostream& os) {
    os << "usage: kcache <command> [options]\n"
          "       kcache <command> --help\n\n"
          "commands:\n";
    for (const auto& c : kCommands)
        os << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
    os << "\nExit status: 0 on success, 1 when the operation fails, 2 on bad usage.\n";
}

} // namespace

std::span<const Command> commands() {
    return kCommands;
}

int run(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        print_usage(err);
        return kUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        if (args.size() > 1 && args[0] == "help")
            for (const auto& c : commands())
                if (c.name == args[1]) {
                    out << c.help << c.registered();
                    return kOk;
                }
        print_usage(out);
        return kOk;
    }
    for (const auto& c : commands()) {
        if (c.name != args[0])
            continue;
        std::span<const std::string> rest = args.subspan(1);
        for (const auto& a : rest)
            if (a == "--help" || a == "-h") {
                out << c.help << c.registered();
                return kOk;
            }
        try {
            return c.run(rest, out, err);
        } catch (const UsageError& e) {
            err << "kcache " << c.name << ": " << e.message << "\n(see kcache " << c.name
                << " --help)\n";
            return kUsage;
        } catch (const Error& e) {
            err << "kcache " << c.name << ": error: " << e.what() << "\n";
            return kFailed;
        } catch (const std::exception& e) {
            err << "kcache " << c.name << ": internal error: " << e.what() << "\n";
            return kFailed;
        }
    }
    err << "kcache: unknown command '" << excerpt(args[0]) << "'\n\n";
    print_usage(err);
    return kUsage;
}

} // namespace kcache::cli
