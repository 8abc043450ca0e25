// What to compile for: target kind, architecture and optimisation level. Small value type used as
// the cache's sharding key. Thread-safety: a plain value; concurrent reads are safe.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace kcache {

enum class TargetKind { Nvptx, Amdgpu, Host };

/// "nvptx", "amdgpu", "host".
std::string_view to_string(TargetKind kind);
/// Inverse of to_string; throws InvalidArgumentError for anything else.
TargetKind parse_target_kind(std::string_view name);

struct TargetSpec {
    TargetKind kind = TargetKind::Host;
    /// "sm_80", "gfx942", a host CPU name; empty means the target's default (host: this CPU).
    std::string arch;
    /// 0..3, as -O0..-O3.
    int opt_level = 2;

    friend bool operator==(const TargetSpec&, const TargetSpec&) = default;
};

/// "nvptx:sm_80:O3" — for logs and cache directory names.
std::string to_string(const TargetSpec& spec);

} // namespace kcache

template <>
struct std::hash<kcache::TargetSpec> {
    std::size_t operator()(const kcache::TargetSpec& s) const noexcept;
};
