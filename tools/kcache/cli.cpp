#include "cli.hpp"

#include "command.hpp"
#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "core/log.hpp"
#include "environment.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace kcache::cli {

void on_parsed(CLI::App& app, Session& session, std::string name, std::function<int()> action) {
    app.callback([&session, name = std::move(name), action = std::move(action)] {
        session.command = name;
        session.action = action;
    });
}

namespace {

constexpr const char* kDescription =
    "kcache: a GPU kernel compilation cache. Compiles kernels for NVIDIA (nvptx), AMD (amdgpu) "
    "and host CPUs through a cache kept in memory, on disk and optionally in Redis.";

// The command the parser was in when it stopped: "compile", "cache ls", or "" (the top level).
std::string parsed_command(const CLI::App& app) {
    std::string name;
    for (const CLI::App* a = &app;;) {
        auto subs = a->get_subcommands();
        if (subs.empty())
            return name;
        a = subs.front();
        name += (name.empty() ? "" : " ") + a->get_name();
    }
}

std::string prefix(const std::string& command) {
    return command.empty() ? "kcache: " : "kcache " + command + ": ";
}

// An error message as printed: what CLI11 or an exception says may quote the command line, so
// it is cut and made printable like every quote of user input.
std::string shown(std::string_view message) {
    while (!message.empty() && message.back() == '\n')
        message.remove_suffix(1);
    return excerpt(message, 0, 2 * kExcerptBytes);
}

// Whether `out` took everything written to it; says why not on `err`.
bool flushed(std::ostream& out, std::ostream& err, const std::string& command) {
    errno = 0;
    out.flush();
    if (out)
        return true;
    const int e = errno;
    err << prefix(command) << "error: cannot write to standard output"
        << (e ? std::string(": ") + std::strerror(e) : std::string()) << "\n";
    return false;
}

} // namespace

int run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
        Terminal terminal) {
    kcache::log(); // made now: an invalid KCACHE_LOG is reported whatever the command does
    Session session{out, err, terminal, {}, {}};

    CLI::App app(kDescription, "kcache");
    app.footer(environment_help());
    app.require_subcommand(0, 1);
    app.fallthrough(false);
    bool version = false;
    app.add_flag("--version", version, "print the versions of kcache and its toolchain");
    add_version_command(app, session);
    add_targets_command(app, session);
    add_devices_command(app, session);
    add_kernels_command(app, session);
    add_compile_command(app, session);
    add_warm_command(app, session);
    add_cache_command(app, session);
    add_run_command(app, session);

    if (args.empty()) {
        err << app.help();
        return kUsage;
    }
    const auto commands = app.get_subcommands([](const CLI::App*) { return true; });
    if (!args[0].starts_with("-") &&
        std::none_of(commands.begin(), commands.end(),
                     [&](const CLI::App* c) { return c->get_name() == args[0]; })) {
        err << "kcache: unknown command '" << excerpt(args[0]) << "' (see kcache --help)\n";
        return kUsage;
    }
    try {
        // CLI11 takes the arguments last first.
        std::vector<std::string> reversed(args.rbegin(), args.rend());
        app.parse(reversed);
    } catch (const CLI::CallForHelp&) {
        // The help of the innermost command named.
        const CLI::App* target = &app;
        while (!target->get_subcommands().empty())
            target = target->get_subcommands().front();
        out << target->help();
        return flushed(out, err, parsed_command(app)) ? kOk : kFailed;
    } catch (const CLI::CallForAllHelp&) {
        out << app.help("", CLI::AppFormatMode::All);
        return flushed(out, err, "") ? kOk : kFailed;
    } catch (const CLI::ParseError& e) {
        const std::string command = parsed_command(app);
        err << prefix(command) << shown(e.what()) << "\n(see kcache"
            << (command.empty() ? "" : " " + command) << " --help)\n";
        return kUsage;
    }
    if (!session.action) {
        if (version) {
            session.command = "";
            out << version_text();
            return flushed(out, err, "") ? kOk : kFailed;
        }
        err << app.help();
        return kUsage;
    }

    int status = kFailed;
    try {
        status = session.action();
    } catch (const UsageError& e) {
        err << prefix(session.command) << shown(e.what()) << "\n(see kcache " << session.command
            << " --help)\n";
        return kUsage;
    } catch (const Error& e) {
        err << prefix(session.command) << "error: " << shown(e.what()) << "\n";
        status = kFailed;
    } catch (const std::exception& e) {
        err << prefix(session.command) << "internal error: " << shown(e.what()) << "\n";
        status = kFailed;
    }
    if (!flushed(out, err, session.command))
        return kFailed;
    return status;
}

} // namespace kcache::cli
