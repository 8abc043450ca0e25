// Where the optional CUDA pieces (libdevice, nvJitLink) are looked for, resolved at run time so
// the same binary works with and without a CUDA installation. Thread-safety: pure functions.
#pragma once

#include <string>

namespace kcache::detail {

/// Where the CUDA toolkit is looked for, and which variable said so.
struct CudaHome {
    std::string path;
    /// "KCACHE_CUDA_HOME" or "CUDA_HOME"; empty for the build's default.
    std::string variable;
};

/// $KCACHE_CUDA_HOME, else $CUDA_HOME, else the build's KCACHE_CUDA_HOME (/usr/local/cuda). A
/// variable that is not an absolute path is ignored (with a warning, once).
CudaHome find_cuda_home();
/// find_cuda_home().path.
std::string cuda_home();

/// <cuda_home>/nvvm/libdevice/libdevice.10.bc when that file exists, else empty.
std::string find_libdevice();

} // namespace kcache::detail
