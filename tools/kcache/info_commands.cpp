// What kcache and this machine offer: `kcache version` (and --version), `targets`, `devices`
// and `kernels`, each as text or, with --json, as one JSON document.
#include "command.hpp"
#include "core/excerpt.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/errors.hpp"
#include "store/keys.hpp"
#include "targets/target.hpp"
#include "targets/target_registry.hpp"
#include "targets/toolchain_report.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <thread>

namespace kcache::cli {

using Json = nlohmann::ordered_json;

namespace {

std::string type_list(Type tt) {
    std::string s;
    for (Type t : tt.elements())
        s += (s.empty() ? "" : ",") + t.str();
    return s;
}

// Words wrapped at 96 columns, each line indented.
std::string wrapped(const std::vector<std::string>& words, const std::string& indent) {
    std::string text, line = indent;
    for (const std::string& w : words) {
        if (line.size() > indent.size() && line.size() + 1 + w.size() > 96) {
            text += line + "\n";
            line = indent;
        }
        line += (line.size() > indent.size() ? " " : "") + w;
    }
    return line.size() > indent.size() ? text + line + "\n" : text;
}

// --- version ---------------------------------------------------------------------------------

Json version_json() {
    Json tools = Json::array();
    for (const ToolchainComponent& c : toolchain_report())
        tools.push_back({{"name", c.name},
                         {"found", c.found},
                         {"version", c.version},
                         {"location", c.location},
                         {"note", c.note}});
    return {
        {"kcache", KCACHE_VERSION}, {"store_schema", store::kSchemaVersion}, {"toolchain", tools}};
}

// --- targets ---------------------------------------------------------------------------------

struct ArchCheck {
    std::string arch;
    std::string problem; ///< empty: this machine produces the target's full output for it
};

// Compiles one small library kernel (fill) for every arch of `target`, in parallel and outside
// every store, and notes the archs whose output is incomplete (a note: e.g. no cubin because
// this CUDA's ptxas no longer takes the arch) or that fail.
std::vector<ArchCheck> check_archs(TargetKind kind) {
    const std::vector<std::string> archs = kind.target().supported_archs();
    std::vector<ArchCheck> checks(archs.size());
    auto lib = kernels::register_all();
    const kernels::KernelInfo* fill = kernels::find_kernel(lib, "fill");
    kernels::KernelCompiler compiler(MethodTable::global(), "kcache.targets");
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < archs.size();) {
            checks[i].arch = archs[i];
            try {
                auto a = compiler.compile(Function::named(fill->name), fill->examples.front(),
                                          TargetSpec{kind, archs[i], 2});
                checks[i].problem = a->notes;
            } catch (const std::exception& e) {
                checks[i].problem = std::string("cannot compile: ") + e.what();
            }
        }
    };
    std::vector<std::jthread> workers;
    const unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned j = 1; j < jobs; ++j)
        workers.emplace_back(work);
    work();
    return checks;
}

// A problem's first line, with the arch it names written ARCH, so that archs failing alike can
// share it.
std::string with_arch_elided(const std::string& problem, const std::string& arch) {
    std::string line = problem.substr(0, problem.find('\n'));
    for (std::size_t at; (at = line.find(arch)) != std::string::npos;)
        line.replace(at, arch.size(), "ARCH");
    return excerpt(line, 0, 300);
}

// --- devices ---------------------------------------------------------------------------------

struct DriverReport {
    std::string driver;
    std::string absent; ///< why the driver is not present here
    std::vector<std::pair<std::string, std::string>> devices; ///< name, target spec
    std::vector<std::pair<int, std::string>> unusable;        ///< ordinal (-1: driver), reason
};

std::vector<DriverReport> discover_all() {
    std::vector<DriverReport> out;
    for (runtime::DeviceKind kind : runtime::DeviceRegistry::all()) {
        DriverReport r{std::string(to_string(kind)), {}, {}, {}};
        try {
            runtime::DeviceDiscovery found = runtime::DeviceRegistry::discover(kind);
            for (const auto& d : found.devices)
                r.devices.emplace_back(d->name(), to_string(d->target()));
            for (const auto& u : found.unusable)
                r.unusable.emplace_back(u.ordinal, u.reason);
        } catch (const runtime::DriverUnavailableError& e) {
            r.absent = e.what();
        } catch (const std::exception& e) {
            r.unusable.emplace_back(-1, e.what());
        }
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace

std::string version_text() {
    std::string text = std::string("kcache ") + KCACHE_VERSION + " (store schema " +
                       std::to_string(store::kSchemaVersion) + ")\n";
    for (const ToolchainComponent& c : toolchain_report()) {
        std::string name = c.name;
        name.resize(std::max<std::size_t>(name.size(), 13), ' ');
        text += name + (c.found ? (c.version.empty() ? "" : c.version + "  ") + c.location
                                : "not found (checked " + c.location + ")");
        if (!c.note.empty())
            text += "  (" + c.note + ")";
        text += "\n";
    }
    return text;
}

void add_version_command(CLI::App& app, Session& session) {
    auto json = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("version", "the versions of kcache and its toolchain");
    cmd->footer("kcache's version and its store's schema, and the toolchain found: LLVM, "
                "lld, the CUDA toolkit, libdevice and nvJitLink (each with its version and "
                "where it is, or the path checked). Same as `kcache --version`.");
    cmd->add_flag("--json", *json, "one JSON object");
    on_parsed(*cmd, session, "version", [json, &session] {
        if (*json)
            session.out << version_json().dump(2) << "\n";
        else
            session.out << version_text();
        return kOk;
    });
}

void add_targets_command(CLI::App& app, Session& session) {
    struct Options {
        bool json = false;
        bool check = true;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("targets", "the registered targets and their archs");
    cmd->footer(
        "Every registered target: its triple, artifact formats, default arch and the archs this "
        "LLVM generates code for. Each arch is tried on this machine (a small kernel compiled "
        "for it, nothing stored), and those whose output is incomplete are marked with the "
        "reason: e.g. CUDA 13's ptxas and nvJitLink reject sm_50 to sm_72, so those give PTX "
        "only, no cubin.");
    cmd->add_flag("--json", o->json, "one JSON object");
    cmd->add_flag("!--no-check", o->check, "list the archs without trying them");
    on_parsed(*cmd, session, "targets", [o, &session] {
        Json targets = Json::array();
        for (TargetKind kind : TargetRegistry::all()) {
            const Target& t = kind.target();
            std::vector<ArchCheck> checks;
            if (o->check)
                checks = check_archs(kind);
            else
                for (const std::string& a : t.supported_archs())
                    checks.push_back({a, {}});
            Json archs = Json::array();
            for (const ArchCheck& c : checks)
                archs.push_back({{"arch", c.arch},
                                 {"complete", o->check ? Json(c.problem.empty()) : Json()},
                                 {"problem", c.problem}});
            targets.push_back({{"name", to_string(kind)},
                               {"triple", t.triple()},
                               {"formats", t.artifact_formats()},
                               {"default_arch", t.default_arch()},
                               {"archs", archs}});
            if (o->json)
                continue;
            std::string formats;
            for (const auto& f : t.artifact_formats())
                formats += (formats.empty() ? "" : ", ") + f;
            session.out << to_string(kind) << "  (" << t.triple() << "; " << formats
                        << "; default arch " << t.default_arch() << ")\n";
            std::vector<std::string> complete;
            for (const ArchCheck& c : checks)
                if (c.problem.empty())
                    complete.push_back(c.arch);
            if (!complete.empty())
                session.out << "  " << (o->check ? "complete:" : "archs:") << "\n"
                            << wrapped(complete, "    ");
            // Archs that fail alike are one line: their reasons are equal but for the arch.
            std::vector<std::pair<std::string, std::vector<std::string>>> reasons;
            for (const ArchCheck& c : checks) {
                if (c.problem.empty())
                    continue;
                const std::string reason = with_arch_elided(c.problem, c.arch);
                if (reasons.empty() || reasons.back().first != reason)
                    reasons.push_back({reason, {}});
                reasons.back().second.push_back(c.arch);
            }
            if (!reasons.empty())
                session.out << "  incomplete on this machine:\n";
            for (const auto& [reason, archs] : reasons)
                session.out << wrapped(archs, "    ") << "      " << reason << "\n";
        }
        if (o->json)
            session.out << Json{{"targets", targets}}.dump(2) << "\n";
        return kOk;
    });
}

void add_devices_command(CLI::App& app, Session& session) {
    auto json = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("devices", "the devices of each registered driver");
    cmd->footer("Every registered device driver (host, cuda, hip, ...) and its devices on "
                "this machine with the target each compiles for; a driver that is absent, "
                "or a device kcache cannot use, with the reason.");
    cmd->add_flag("--json", *json, "one JSON object");
    on_parsed(*cmd, session, "devices", [json, &session] {
        Json drivers = Json::array();
        for (const DriverReport& r : discover_all()) {
            Json devices = Json::array(), unusable = Json::array();
            for (const auto& [name, target] : r.devices)
                devices.push_back({{"name", name}, {"target", target}});
            for (const auto& [ordinal, reason] : r.unusable)
                unusable.push_back({{"ordinal", ordinal}, {"reason", reason}});
            drivers.push_back({{"driver", r.driver},
                               {"present", r.absent.empty()},
                               {"absent_because", r.absent},
                               {"devices", devices},
                               {"unusable", unusable}});
            if (*json)
                continue;
            session.out << r.driver << "\n";
            if (!r.absent.empty())
                session.out << "  not present: " << r.absent << "\n";
            for (const auto& [name, target] : r.devices)
                session.out << "  " << name << "  (" << target << ")\n";
            for (const auto& [ordinal, reason] : r.unusable)
                session.out << "  unusable" << (ordinal < 0 ? "" : " #" + std::to_string(ordinal))
                            << ": " << reason << "\n";
            if (r.absent.empty() && r.devices.empty() && r.unusable.empty())
                session.out << "  no devices\n";
        }
        if (*json)
            session.out << Json{{"drivers", drivers}}.dump(2) << "\n";
        return kOk;
    });
}

void add_kernels_command(CLI::App& app, Session& session) {
    auto json = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("kernels", "the library's kernels and their signatures");
    cmd->footer("The kernels of kcache's kernel library: name, method signatures, what it "
                "computes and how to launch it, and the --types of the specialisation "
                "`kcache compile` uses by default.");
    cmd->add_flag("--json", *json, "one JSON object");
    on_parsed(*cmd, session, "kernels", [json, &session] {
        Json list = Json::array();
        for (const auto& k : kernels::register_all()) {
            if (*json) {
                Json examples = Json::array();
                for (Type tt : k.examples)
                    examples.push_back(type_list(tt));
                list.push_back({{"name", k.name},
                                {"signatures", k.signatures},
                                {"description", k.description},
                                {"examples", examples}});
                continue;
            }
            session.out << k.name << "\n";
            for (const auto& s : k.signatures)
                session.out << "    " << s << "\n";
            session.out << "    " << k.description << "\n";
            session.out << "    example: --types '" << type_list(k.examples.front()) << "'\n";
        }
        if (*json)
            session.out << Json{{"kernels", list}}.dump(2) << "\n";
        return kOk;
    });
}

} // namespace kcache::cli
