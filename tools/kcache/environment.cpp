#include "environment.hpp"

#include <algorithm>

namespace kcache::cli {
namespace {

constexpr EnvironmentVariable kVariables[] = {
    {"KCACHE_CACHE_DIR", "the disk tier's directory (default $XDG_CACHE_HOME/kcache, else "
                         "~/.cache/kcache)"},
    {"KCACHE_CACHE", "off: no disk tier (the memory tier stays)"},
    {"KCACHE_CACHE_MAX_SIZE", "the disk tier's cap, e.g. 500M, 2G (default 4G)"},
    {"KCACHE_CACHE_LOCK_TIMEOUT", "how long to wait for another process compiling the same code "
                                  "(default 30 s)"},
    {"KCACHE_REDIS", "redis://[[user]:password@]host[:port][/db], comma-separated: a Redis tier "
                     "shared by a cluster"},
    {"KCACHE_REDIS_TTL", "how long a Redis entry lives after its last use (default 30d)"},
    {"KCACHE_REDIS_CONNECT_TIMEOUT", "Redis connect timeout (default 100ms)"},
    {"KCACHE_REDIS_TIMEOUT", "each Redis operation's time limit (default 1s)"},
    {"KCACHE_REDIS_BACKOFF", "how long a failing Redis server is skipped (default 1s)"},
    {"KCACHE_REDIS_SECRET", "Redis values carry a BLAKE3 MAC keyed by this secret"},
    {"KCACHE_REDIS_SECRET_FILE", "the secret read from this file (others may not read it)"},
    {"KCACHE_LOG", "log level: trace, debug, info, warn (default), error, critical, off"},
    {"KCACHE_CUDA_HOME", "the CUDA toolkit: libdevice, and nvJitLink (loaded only from there "
                         "when set); default /usr/local/cuda"},
    {"CUDA_HOME", "used when KCACHE_CUDA_HOME is not set"},
    {"KCACHE_CUDA_DRIVER", "the CUDA driver library to load instead of libcuda.so.1"},
    {"KCACHE_HIP_RUNTIME", "the HIP runtime library to load instead of libamdhip64.so"},
    {"KCACHE_CRASH_RECOVERY", "0/off: let LLVM crashes end the process instead of containing "
                              "them"},
    {"XDG_CACHE_HOME", "see KCACHE_CACHE_DIR"},
    {"HOME", "see KCACHE_CACHE_DIR"},
};

} // namespace

std::span<const EnvironmentVariable> environment_variables() {
    return kVariables;
}

std::string environment_help() {
    std::string text = "Environment:\n";
    for (const auto& v : kVariables) {
        std::string name(v.name);
        name.resize(std::max<std::size_t>(name.size(), 29), ' ');
        text += "  " + name + " " + std::string(v.meaning) + "\n";
    }
    text += "\nExit status: 0 success, 1 the operation failed, 2 bad usage.\n"
            "`kcache COMMAND --help` describes each command.";
    return text;
}

} // namespace kcache::cli
