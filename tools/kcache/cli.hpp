// The `kcache` command line, as a library: main() is run() on the process's arguments, and
// tests, fuzz harnesses and benchmarks run a command line in-process through it.
//
// Exit statuses: 0 success; 1 the operation failed (a compile error, a cache or file error, a
// failed write to standard output, bad entries found by `cache verify`); 2 bad usage. Every
// failure says why on `err`, prefixed with `kcache <command>:`.
//
// Thread-safety: run() may be called from one thread at a time.
#pragma once

#include <iosfwd>
#include <span>
#include <string>

namespace kcache::cli {

inline constexpr int kOk = 0, kFailed = 1, kUsage = 2;

/// Whether standard output and standard error are terminals: binary output is not written to a
/// terminal, and `kcache warm` draws a progress bar on one.
struct Terminal {
    bool out = false;
    bool err = false;
};

/// Runs the command line `args` (without the program name); returns the exit status.
int run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
        Terminal terminal = {});

} // namespace kcache::cli
