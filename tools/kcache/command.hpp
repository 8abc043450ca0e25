// What the commands of `kcache` share: the session a command runs in, the errors that choose
// its exit status, and the functions that add each command to the parser (one file each).
// Thread-safety: a Session belongs to one run() call.
#pragma once

#include "cli.hpp"

#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>

namespace CLI {
class App;
}

namespace kcache::cli {

/// A bad command line: exit status 2, the message followed by a pointer to --help.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The command line of one run() and what it runs. The parsed command's callback sets `command`
/// (the prefix of its messages, e.g. "cache ls") and `action`, which run() then calls.
struct Session {
    std::ostream& out;
    std::ostream& err;
    Terminal terminal;
    std::string command;
    std::function<int()> action;

    /// A line on standard error, prefixed with `kcache <command>: `.
    void note(const std::string& line) const {
        err << "kcache " << command << ": " << line << "\n";
    }
};

/// Sets session.command to `name` and session.action to `action` when `app` is the command
/// parsed.
void on_parsed(CLI::App& app, Session& session, std::string name, std::function<int()> action);

void add_version_command(CLI::App& app, Session& session);
void add_targets_command(CLI::App& app, Session& session);
void add_devices_command(CLI::App& app, Session& session);
void add_kernels_command(CLI::App& app, Session& session);
void add_compile_command(CLI::App& app, Session& session);
void add_warm_command(CLI::App& app, Session& session);
void add_cache_command(CLI::App& app, Session& session);
void add_run_command(CLI::App& app, Session& session);

/// The text of `kcache --version`.
std::string version_text();

} // namespace kcache::cli
