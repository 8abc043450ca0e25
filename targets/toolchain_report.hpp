// What this machine's toolchain is made of, for people and tools (`kcache --version`): LLVM,
// lld, the CUDA toolkit and its libdevice and nvJitLink, each with its version and where it was
// found, or that it was not found and where it was looked for. The cache keys do not read this:
// each target names what shapes its bytes in Target::toolchain().
// Thread-safety: thread-safe (reads the environment and the file system).
#pragma once

#include <string>
#include <vector>

namespace kcache {

struct ToolchainComponent {
    std::string name; ///< "LLVM", "lld", "CUDA toolkit", "libdevice", "nvJitLink"
    bool found = false;
    std::string version;  ///< when found: "19.1.7", "13.0"; may be empty when unknown
    std::string location; ///< where it is, or the path(s) checked when not found
    std::string note;     ///< why it is absent, or which variable chose the location
};

/// LLVM, lld, the CUDA toolkit ($KCACHE_CUDA_HOME, else $CUDA_HOME, else /usr/local/cuda),
/// libdevice and nvJitLink (loaded from that toolkit when a variable names it).
std::vector<ToolchainComponent> toolchain_report();

} // namespace kcache
