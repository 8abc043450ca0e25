#include "targets/target_spec.hpp"

#include "core/errors.hpp"
#include "core/hash.hpp"

namespace kcache {

std::string_view to_string(TargetKind kind) {
    switch (kind) {
    case TargetKind::Nvptx:
        return "nvptx";
    case TargetKind::Amdgpu:
        return "amdgpu";
    case TargetKind::Host:
        return "host";
    }
    return "unknown";
}

TargetKind parse_target_kind(std::string_view name) {
    for (auto k : {TargetKind::Nvptx, TargetKind::Amdgpu, TargetKind::Host})
        if (to_string(k) == name)
            return k;
    throw InvalidArgumentError("unknown target kind '" + std::string(name) +
                               "'; supported: nvptx amdgpu host");
}

std::string to_string(const TargetSpec& spec) {
    return std::string(to_string(spec.kind)) + ":" + spec.arch + ":O" +
           std::to_string(spec.opt_level);
}

} // namespace kcache

std::size_t std::hash<kcache::TargetSpec>::operator()(const kcache::TargetSpec& s) const noexcept {
    std::size_t h = std::hash<int>{}(static_cast<int>(s.kind));
    h = kcache::hash_combine(h, std::hash<std::string>{}(s.arch));
    return kcache::hash_combine(h, std::hash<int>{}(s.opt_level));
}
