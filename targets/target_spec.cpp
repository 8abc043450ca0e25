#include "targets/target_spec.hpp"

#include "core/hash.hpp"

#include <ostream>

namespace kcache {

std::string_view to_string(TargetKind kind) {
    return kind ? kind.name() : std::string_view("none");
}

std::ostream& operator<<(std::ostream& os, TargetKind kind) {
    return os << to_string(kind);
}

std::string to_string(const TargetSpec& spec) {
    return std::string(to_string(spec.kind)) + ":" + spec.arch + ":O" +
           std::to_string(spec.opt_level);
}

} // namespace kcache

std::size_t std::hash<kcache::TargetSpec>::operator()(const kcache::TargetSpec& s) const noexcept {
    std::size_t h = s.kind.hash();
    h = kcache::hash_combine(h, std::hash<std::string>{}(s.arch));
    return kcache::hash_combine(h, std::hash<int>{}(s.opt_level));
}
