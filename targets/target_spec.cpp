#include "targets/target_spec.hpp"

#include "core/errors.hpp"

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
    // boost::hash_combine's mixing; stable within a process, which is all sharding needs.
    std::size_t h = std::hash<int>{}(static_cast<int>(s.kind));
    auto mix = [&h](std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
    mix(std::hash<std::string>{}(s.arch));
    mix(std::hash<int>{}(s.opt_level));
    return h;
}
