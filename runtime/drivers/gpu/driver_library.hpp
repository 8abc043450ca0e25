// Opening a GPU driver library with dlopen() (no link-time dependency on any driver): the path
// in an environment variable when it is set (a test's fake driver, a driver outside the loader's
// path), else the first of a list of names that loads.
//
// The library stays loaded for the life of the process: devices may be destroyed during exit,
// after every other static, and drivers do not support being unloaded while handles remain.
// Thread-safety: thread-safe (dlopen and dlsym are).
#pragma once

#include <initializer_list>
#include <string>

namespace kcache::runtime::detail {

struct DriverLibrary {
    void* handle = nullptr;
    /// The name or path it was loaded from.
    std::string path;

    /// The entry point `symbol`; throws RuntimeError naming the library and the symbol.
    void* require(const char* driver, const char* symbol) const;
    /// The entry point `symbol`, or nullptr where this version of the driver lacks it.
    void* find(const char* symbol) const noexcept;
};

/// Opens `$env_override` if that is set and not empty, else the first of `names` that loads.
/// Throws DriverUnavailableError naming every attempt and dlopen's reasons.
DriverLibrary open_driver_library(const char* driver, std::initializer_list<const char*> names,
                                  const char* env_override);

} // namespace kcache::runtime::detail
