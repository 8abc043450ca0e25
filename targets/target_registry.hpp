// The target registry (IREE's target-backend registry, in small): every target kcache can
// compile for is registered under a name with a factory, and found by name (the CLI, store
// entries) or through the TargetKind handle the registration returns (TargetSpec).
//
// The built-in targets are the folders targets/<name>/ that register themselves
// (cmake/KcacheBuiltins.cmake: nvptx, amdgpu, host); register_builtin_targets() adds them, and
// the registry calls it itself on its first use: no static registration objects, so nothing
// depends on static-initialisation order or on the linker keeping an otherwise unreferenced
// object file of a static library. A program or a test registers its own targets by calling
// TargetRegistry::add at run time, before it compiles for them.
//
// A target declares the rest itself (targets/target.hpp): its triple, archs, address-space map
// and artifact formats.
//
// Thread-safety: thread-safe. Entries are never removed: a TargetKind stays valid for the
// process, and each target is created once, on first use.
#pragma once

#include "targets/target_spec.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kcache {

/// Creates the target registered as `self`; called once, on first use. The target's kind()
/// must return `self`.
using TargetFactory = std::function<std::unique_ptr<Target>(TargetKind self)>;

class TargetRegistry {
public:
    /// Registers `name` (lowercase letters, digits, '_' and '-'; at most 32 characters: it
    /// appears in specs, cache keys and file names) and returns its kind. Throws
    /// InvalidArgumentError for a malformed name, a name already registered, or an empty factory.
    static TargetKind add(std::string name, TargetFactory create);
    /// The target registered as `name`; the default-constructed kind when there is none.
    static TargetKind find(std::string_view name);
    /// Every registered target, in registration order (the built-ins first).
    static std::vector<TargetKind> all();
    /// "nvptx, amdgpu, host, ...": for messages and help texts.
    static std::string names();
};

/// Registers the built-in targets (nvptx, amdgpu, host). Called by the registry on its first use;
/// idempotent.
void register_builtin_targets();

} // namespace kcache
