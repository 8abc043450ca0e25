// Every environment variable kcache reads, with what it does: listed by `kcache --help` and in
// the README (a test checks that each `getenv` name in the sources is here).
// Thread-safety: immutable data.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace kcache::cli {

struct EnvironmentVariable {
    std::string_view name;
    std::string_view meaning;
};

std::span<const EnvironmentVariable> environment_variables();

/// The "Environment:" section of `kcache --help`.
std::string environment_help();

} // namespace kcache::cli
