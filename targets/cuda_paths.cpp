#include "targets/cuda_paths.hpp"

#include <cstdlib>
#include <filesystem>

#ifndef KCACHE_CUDA_HOME
#define KCACHE_CUDA_HOME "/usr/local/cuda"
#endif

namespace kcache::detail {

std::string cuda_home() {
    for (const char* var : {"KCACHE_CUDA_HOME", "CUDA_HOME"})
        if (const char* v = std::getenv(var); v && *v)
            return v;
    return KCACHE_CUDA_HOME;
}

std::string find_libdevice() {
    std::filesystem::path p = std::filesystem::path(cuda_home()) / "nvvm/libdevice/libdevice.10.bc";
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) ? p.string() : std::string();
}

} // namespace kcache::detail
