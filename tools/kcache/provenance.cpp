#include "provenance.hpp"

namespace kcache::cli {

std::string Origin::str() const {
    if (source == "cache" || source == "compiled")
        return source;
    return source + (no_ir ? " (no IR)" : " (IR hashed)");
}

Provenance::Provenance(const kernels::KernelCompiler& compiler, const store::Store& store)
    : compiler_(compiler), store_(store) {
    mark();
}

void Provenance::mark() {
    compiler_before_ = compiler_.stats();
    store_before_ = store_.stats();
}

Origin Provenance::since_mark() const {
    const auto c = compiler_.stats();
    const auto s = store_.stats();
    if (c.compilations == compiler_before_.compilations)
        return {"cache", false};
    if (s.published != store_before_.published)
        return {"compiled", false};
    // The slowest tier that served a hit holds the bytes: a hit there is copied into the faster
    // tiers, and a faster tier's hit would have ended the lookup before it.
    Origin o{"memory", s.recalls != store_before_.recalls};
    for (std::size_t i = 0; i < s.tiers.size() && i < store_before_.tiers.size(); ++i)
        if (s.tiers[i].second.hits != store_before_.tiers[i].second.hits)
            o.source = s.tiers[i].first;
    return o;
}

} // namespace kcache::cli
