#include "targets/nvptx/cuda_paths.hpp"

#include "core/excerpt.hpp"
#include "core/log.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>

#ifndef KCACHE_CUDA_HOME
#define KCACHE_CUDA_HOME "/usr/local/cuda"
#endif

namespace kcache::detail {

CudaHome find_cuda_home() {
    // Libraries are dlopen'ed from here: a relative path would load them from wherever the
    // process happens to run, so only absolute paths count.
    static std::atomic<bool> warned[2] = {false, false};
    const char* const vars[] = {"KCACHE_CUDA_HOME", "CUDA_HOME"};
    for (int i = 0; i < 2; ++i) {
        const char* v = std::getenv(vars[i]);
        if (!v || !*v)
            continue;
        if (v[0] == '/')
            return {v, vars[i]};
        if (!warned[i].exchange(true))
            log().warn("{}='{}' is not an absolute path; ignored", vars[i], excerpt(v));
    }
    return {KCACHE_CUDA_HOME, {}};
}

std::string cuda_home() {
    return find_cuda_home().path;
}

std::string find_libdevice() {
    std::filesystem::path p = std::filesystem::path(cuda_home()) / "nvvm/libdevice/libdevice.10.bc";
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) ? p.string() : std::string();
}

} // namespace kcache::detail
