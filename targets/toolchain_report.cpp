#include "targets/toolchain_report.hpp"

#include "targets/nvptx/cuda_paths.hpp"
#include "targets/nvptx/nvjitlink.hpp"

#include <llvm/Config/llvm-config.h>

#include <filesystem>
#include <fstream>
#include <string_view>

// lld/Common/Version.h includes a Version.inc that Debian's liblld-19-dev does not ship; this is
// its one declaration.
namespace lld {
std::string getLLDVersion();
}

namespace kcache {
namespace {

// "13.0" from cuda.h's `#define CUDA_VERSION 13000`; empty when absent.
std::string cuda_version(const std::filesystem::path& home) {
    std::ifstream header(home / "include" / "cuda.h");
    std::string line;
    constexpr std::string_view kDefine = "#define CUDA_VERSION ";
    for (int n = 0; n < 5000 && std::getline(header, line); ++n)
        if (line.starts_with(kDefine)) {
            const int v = std::atoi(line.c_str() + kDefine.size());
            return v > 0 ? std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) : "";
        }
    return {};
}

} // namespace

std::vector<ToolchainComponent> toolchain_report() {
    std::vector<ToolchainComponent> out;
    out.push_back({"LLVM", true, LLVM_VERSION_STRING, "linked in", {}});
    std::string lld = lld::getLLDVersion(); // "Debian LLD 19.1.7 (compatible with GNU linkers)"
    if (const auto at = lld.find("LLD "); at != std::string::npos)
        lld = lld.substr(at + 4);
    out.push_back({"lld", true, lld.substr(0, lld.find(' ')), "linked in", {}});

    const detail::CudaHome home = detail::find_cuda_home();
    const std::string chosen = home.variable.empty() ? "the default" : "from $" + home.variable;
    std::error_code ec;
    const bool toolkit = std::filesystem::is_directory(home.path, ec);
    const std::string version = toolkit ? cuda_version(home.path) : "";
    out.push_back({"CUDA toolkit", toolkit, version, home.path,
                   toolkit ? chosen : "no such directory (" + chosen + ")"});

    const std::string libdevice = detail::find_libdevice();
    out.push_back(
        {"libdevice",
         !libdevice.empty(),
         {},
         libdevice.empty() ? home.path + "/nvvm/libdevice/libdevice.10.bc" : libdevice,
         libdevice.empty() ? "not found: nvptx kernels that call math cannot compile" : ""});

    std::string why;
    if (const auto* jit = detail::NvJitLink::get(&why)) {
        // identity(): "nvJitLink 13.0 (libnvJitLink.so.13.0.88)"
        std::string v = jit->identity().substr(std::string_view("nvJitLink ").size());
        out.push_back({"nvJitLink", true, v.substr(0, v.find(' ')), jit->library(), {}});
    } else {
        out.push_back({"nvJitLink", false, {}, home.path, why + "; nvptx gives PTX only"});
    }
    return out;
}

} // namespace kcache
