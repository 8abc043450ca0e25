// What to compile for: a registered target, an architecture and an optimisation level. A small
// value type used as the cache's sharding key: comparing and hashing it never compares the
// target's name (a TargetKind is a pointer to its registry entry).
// Thread-safety: plain values; concurrent reads are safe.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

namespace kcache {

class Target;

namespace detail {
struct TargetEntry;
}

/// A target registered with the target registry (targets/target_registry.hpp): "nvptx",
/// "amdgpu", "host", or one a program registers itself. Trivially copyable; equality is identity.
/// The default-constructed kind names no target.
class TargetKind {
public:
    constexpr TargetKind() = default;

    /// The registered target called `name`; throws InvalidArgumentError listing the registered
    /// names when there is none.
    static TargetKind named(std::string_view name);
    /// The built-in targets (registered on first use of the registry).
    static TargetKind nvptx();
    static TargetKind amdgpu();
    static TargetKind host();

    /// The registered name; empty for the default-constructed kind.
    std::string_view name() const;
    /// The target itself, created on first use. Throws InvalidArgumentError for the
    /// default-constructed kind, and what the target's factory throws.
    const Target& target() const;

    explicit operator bool() const { return entry_ != nullptr; }
    friend bool operator==(TargetKind, TargetKind) = default;
    std::size_t hash() const { return std::hash<const void*>{}(entry_); }

private:
    friend struct detail::TargetEntry;
    explicit TargetKind(const detail::TargetEntry* entry) : entry_(entry) {}
    const detail::TargetEntry* entry_ = nullptr;
};

/// The registered name ("nvptx"); "none" for the default-constructed kind.
std::string_view to_string(TargetKind kind);
/// Prints to_string(kind) (test frameworks and logs show the name, not the handle).
std::ostream& operator<<(std::ostream& os, TargetKind kind);

struct TargetSpec {
    TargetKind kind;
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
struct std::hash<kcache::TargetKind> {
    std::size_t operator()(kcache::TargetKind k) const noexcept { return k.hash(); }
};

template <>
struct std::hash<kcache::TargetSpec> {
    std::size_t operator()(const kcache::TargetSpec& s) const noexcept;
};
