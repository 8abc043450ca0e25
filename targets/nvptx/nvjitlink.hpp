// nvJitLink, loaded with dlopen when present, to assemble PTX into a cubin in-process.
// Internal to targets/. Thread-safety: the instance is created once (thread-safe) and then only
// read; each ptx_to_cubin call uses its own nvJitLink handle.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::detail {

class NvJitLink {
public:
    struct Result {
        std::optional<std::vector<std::uint8_t>> cubin; ///< absent when the link failed
        std::string log;                                ///< nvJitLink's error log on failure
    };

    /// The process-wide instance, or nullptr when no usable libnvJitLink was found; then `why`
    /// (if given) says what was tried.
    static const NvJitLink* get(std::string* why = nullptr);

    /// Assembles `ptx` for `arch` ("sm_90a") with ptxas optimisation level `opt_level`.
    Result ptx_to_cubin(std::string_view ptx, std::string_view arch, int opt_level) const;

    /// The library file that was loaded.
    const std::string& library() const { return library_; }
    /// What produced the cubins, for cache keys: "nvJitLink 13.0 (libnvJitLink.so.13.0.88)"
    /// (nvJitLinkVersion, and the file the library resolves to, which names the patch release).
    const std::string& identity() const { return identity_; }

    struct Api; // the table of entry points, defined in nvjitlink.cpp

private:
    NvJitLink(std::string library, std::string identity, const Api* api)
        : library_(std::move(library)), identity_(std::move(identity)), api_(api) {}
    std::string library_;
    std::string identity_;
    const Api* api_;
};

} // namespace kcache::detail
