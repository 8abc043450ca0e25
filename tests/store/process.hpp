// Child processes for the store tests: the worker (store_worker.cpp) and the kcache command, run
// without a shell, with extra environment variables, stdout and stderr captured.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace kcache::test {

struct ProcessResult {
    int status = -1; ///< exit status, or 128 + signal
    std::string out, err;
};

/// One child process. Thread-safety: one thread per object.
class Process {
public:
    /// Starts argv[0] with `argv` and this process's environment plus `env` ("NAME=value",
    /// replacing a variable of the same name); stdout and stderr go to files in `scratch`.
    Process(std::vector<std::string> argv, const std::vector<std::string>& env,
            const std::filesystem::path& scratch);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    /// Waits for it to exit.
    ProcessResult wait();

private:
    pid_t pid_ = -1;
    std::filesystem::path out_, err_;
    bool waited_ = false;
};

/// Process(...).wait().
ProcessResult run_process(std::vector<std::string> argv, const std::vector<std::string>& env,
                          const std::filesystem::path& scratch);

/// The value of a `name=value` line the worker printed, or -1.
long long stat_of(const std::string& out, const std::string& name);

} // namespace kcache::test
