// Subcommands of the `kcache` tool. Each is one entry in commands(): adding one (e.g. `run`)
// means writing its function and help text and listing it there.
// Thread-safety: run() may be called from one thread at a time.
#pragma once

#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

namespace kcache::cli {

/// Exit statuses: 0 success, 1 the operation failed (compile error, I/O), 2 bad usage.
inline constexpr int kOk = 0, kFailed = 1, kUsage = 2;

struct Command {
    std::string_view name;
    std::string_view summary; ///< one line for `kcache --help`
    std::string_view help;    ///< the full text for `kcache COMMAND --help`
    /// What the registries hold that the command takes (targets, devices), printed after help.
    std::string (*registered)();
    /// Runs with the arguments after the command name; returns the exit status.
    int (*run)(std::span<const std::string> args, std::ostream& out, std::ostream& err);
};

std::span<const Command> commands();

/// The `kcache` command line after the program name, as the tool runs it: the command, its
/// --help, and every error turned into a message on `err` and an exit status. Output goes to
/// `out`. main() is this; harnesses run the command in-process through it.
int run(std::span<const std::string> args, std::ostream& out, std::ostream& err);

/// A bad command line; the message is printed with a pointer to --help, exit status 2.
struct UsageError {
    std::string message;
};

} // namespace kcache::cli
