#include "targets/nvptx/nvjitlink.hpp"

#include "targets/nvptx/cuda_paths.hpp"

#include <dlfcn.h>
#include <link.h>

#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>

namespace kcache::detail {

// The few declarations of nvJitLink.h we need, so that building needs no CUDA headers. Values as
// in CUDA 12/13's nvJitLink.h (a stable C ABI; the unversioned names are exported by both).
namespace {
using Handle = struct nvJitLinkOpaque*;
using Status = int; // nvJitLinkResult; 0 = NVJITLINK_SUCCESS
constexpr Status kSuccess = 0;
constexpr int kInputPtx = 2; // NVJITLINK_INPUT_PTX

std::string status_name(Status s) {
    static const char* const kNames[] = {"SUCCESS",
                                         "UNRECOGNIZED_OPTION",
                                         "MISSING_ARCH",
                                         "INVALID_INPUT",
                                         "PTX_COMPILE",
                                         "NVVM_COMPILE",
                                         "INTERNAL",
                                         "THREADPOOL",
                                         "UNRECOGNIZED_INPUT",
                                         "FINALIZE",
                                         "NULL_INPUT",
                                         "INCOMPATIBLE_OPTIONS",
                                         "INCORRECT_INPUT_TYPE",
                                         "ARCH_MISMATCH",
                                         "OUTDATED_LIBRARY",
                                         "MISSING_FATBIN",
                                         "UNRECOGNIZED_ARCH",
                                         "UNSUPPORTED_ARCH",
                                         "LTO_NOT_ENABLED"};
    std::string code = std::to_string(s);
    if (s >= 0 && s < static_cast<Status>(std::size(kNames)))
        return std::string("NVJITLINK_") + (s ? "ERROR_" : "") + kNames[s] + " (" + code + ")";
    return "status " + code;
}
} // namespace

struct NvJitLink::Api {
    Status (*create)(Handle*, std::uint32_t, const char**);
    Status (*add_data)(Handle, int, const void*, std::size_t, const char*);
    Status (*complete)(Handle);
    Status (*cubin_size)(Handle, std::size_t*);
    Status (*cubin)(Handle, void*);
    Status (*error_log_size)(Handle, std::size_t*);
    Status (*error_log)(Handle, char*);
    Status (*destroy)(Handle*);
};

namespace {

struct Loaded {
    std::string library;
    std::string identity;
    NvJitLink::Api api{};
    std::string why;
};

// "nvJitLink 13.0 (libnvJitLink.so.13.0.88)": the version it reports, and the file name the
// loaded library resolves to (it carries the patch release, which can change ptxas's output).
std::string identify(void* lib) {
    std::string version = "unknown version";
    using VersionFn = Status (*)(unsigned*, unsigned*);
    if (auto fn = reinterpret_cast<VersionFn>(dlsym(lib, "nvJitLinkVersion"))) {
        unsigned major = 0, minor = 0;
        if (fn(&major, &minor) == kSuccess)
            version = std::to_string(major) + "." + std::to_string(minor);
    }
    std::string file = "unknown file";
    link_map* map = nullptr;
    if (dlinfo(lib, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name) {
        std::error_code ec;
        auto real = std::filesystem::canonical(map->l_name, ec);
        file = ec ? std::string(map->l_name) : real.filename().string();
    }
    return "nvJitLink " + version + " (" + file + ")";
}

template <typename Fn>
bool resolve(void* lib, const char* name, Fn& out, std::string& why) {
    out = reinterpret_cast<Fn>(dlsym(lib, name));
    if (!out)
        why += std::string(why.empty() ? "" : "; ") + "missing symbol " + name;
    return out != nullptr;
}

Loaded load() {
    Loaded l;
    // A toolkit named by the environment is the one used: only its libraries are tried, so a
    // wrong path is an error naming it rather than another nvJitLink found on the system.
    const CudaHome home = find_cuda_home();
    std::vector<std::string> candidates;
    if (home.variable.empty())
        candidates = {"libnvJitLink.so.13", "libnvJitLink.so.12", "libnvJitLink.so"};
    for (const char* dir : {"/lib64/", "/lib/"})
        for (const char* name : {"libnvJitLink.so.13", "libnvJitLink.so.12", "libnvJitLink.so"})
            candidates.push_back(home.path + dir + name);
    if (!home.variable.empty())
        l.why = home.variable + "=" + home.path + ": ";
    for (const auto& c : candidates) {
        void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            l.why += std::string(l.why.empty() || l.why.ends_with(": ") ? "" : "; ") + "dlopen " +
                     c + " failed";
            continue;
        }
        // Kept open for the life of the process: the table points into it.
        std::string missing;
        auto& a = l.api;
        bool ok = resolve(lib, "nvJitLinkCreate", a.create, missing) &
                  resolve(lib, "nvJitLinkAddData", a.add_data, missing) &
                  resolve(lib, "nvJitLinkComplete", a.complete, missing) &
                  resolve(lib, "nvJitLinkGetLinkedCubinSize", a.cubin_size, missing) &
                  resolve(lib, "nvJitLinkGetLinkedCubin", a.cubin, missing) &
                  resolve(lib, "nvJitLinkGetErrorLogSize", a.error_log_size, missing) &
                  resolve(lib, "nvJitLinkGetErrorLog", a.error_log, missing) &
                  resolve(lib, "nvJitLinkDestroy", a.destroy, missing);
        if (ok) {
            l.library = c;
            l.identity = identify(lib);
            l.why.clear();
            return l;
        }
        l.why += std::string(l.why.empty() ? "" : "; ") + c + ": " + missing;
        dlclose(lib);
    }
    return l;
}

} // namespace

const NvJitLink* NvJitLink::get(std::string* why) {
    static const Loaded loaded = load(); // thread-safe static initialisation
    static const std::unique_ptr<NvJitLink> instance(
        loaded.library.empty() ? nullptr
                               : new NvJitLink(loaded.library, loaded.identity, &loaded.api));
    if (!instance && why)
        *why = "nvJitLink not available (" + loaded.why + ")";
    return instance.get();
}

NvJitLink::Result NvJitLink::ptx_to_cubin(std::string_view ptx, std::string_view arch,
                                          int opt_level) const {
    Result r;
    std::string arch_opt = "-arch=" + std::string(arch);
    // nvJitLink's own -O is for LTO and takes only 0 or 3; ptxas's level goes through -Xptxas.
    std::string opt_opt = "-Xptxas=-O" + std::to_string(opt_level);
    const char* options[] = {arch_opt.c_str(), opt_opt.c_str()};
    Handle h = nullptr;
    if (Status s = api_->create(&h, 2, options); s != kSuccess) {
        r.log = "nvJitLinkCreate(" + arch_opt + " " + opt_opt + ") failed: " + status_name(s);
        if (h)
            api_->destroy(&h);
        return r;
    }
    auto error_log = [&](const char* step, Status s) {
        std::string log = std::string(step) + " failed: " + status_name(s);
        std::size_t size = 0;
        if (api_->error_log_size(h, &size) == kSuccess && size > 1) {
            std::string text(size, '\0');
            if (api_->error_log(h, text.data()) == kSuccess) {
                text.resize(text.find('\0') == std::string::npos ? text.size() : text.find('\0'));
                log += ": " + text;
            }
        }
        return log;
    };
    std::string ptx_copy(ptx); // nvJitLink wants NUL-terminated PTX text
    if (Status s = api_->add_data(h, kInputPtx, ptx_copy.c_str(), ptx_copy.size() + 1, "kernel");
        s != kSuccess) {
        r.log = error_log("nvJitLinkAddData", s);
    } else if (Status s2 = api_->complete(h); s2 != kSuccess) {
        r.log = error_log("nvJitLinkComplete", s2);
    } else {
        std::size_t size = 0;
        if (Status s3 = api_->cubin_size(h, &size); s3 != kSuccess) {
            r.log = error_log("nvJitLinkGetLinkedCubinSize", s3);
        } else {
            std::vector<std::uint8_t> cubin(size);
            if (Status s4 = api_->cubin(h, cubin.data()); s4 != kSuccess)
                r.log = error_log("nvJitLinkGetLinkedCubin", s4);
            else
                r.cubin = std::move(cubin);
        }
    }
    api_->destroy(&h);
    return r;
}

} // namespace kcache::detail
