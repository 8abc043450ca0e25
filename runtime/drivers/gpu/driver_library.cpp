#include "runtime/drivers/gpu/driver_library.hpp"

#include "runtime/errors.hpp"

#include <dlfcn.h>

#include <cstdlib>

namespace kcache::runtime::detail {

void* DriverLibrary::require(const char* driver, const char* symbol) const {
    if (void* p = find(symbol))
        return p;
    throw RuntimeError(std::string(driver) + ": the driver " + path + " lacks " + symbol +
                       " (a driver older than kcache needs?)");
}

void* DriverLibrary::find(const char* symbol) const noexcept {
    return dlsym(handle, symbol);
}

DriverLibrary open_driver_library(const char* driver, std::initializer_list<const char*> names,
                                  const char* env_override) {
    if (const char* path = std::getenv(env_override); path && *path) {
        if (void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL))
            return {h, path};
        throw DriverUnavailableError(std::string(driver) + ": cannot load the driver " + path +
                                     " named by " + env_override + ": " + dlerror());
    }
    std::string tried;
    for (const char* name : names) {
        if (void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL))
            return {h, name};
        tried += std::string(tried.empty() ? "" : "; ") + dlerror();
    }
    throw DriverUnavailableError(std::string(driver) + ": cannot load the driver (" + tried +
                                 "); no " + driver + " driver on this machine? (" + env_override +
                                 " names a library to load instead)");
}

} // namespace kcache::runtime::detail
