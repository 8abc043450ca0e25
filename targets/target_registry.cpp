#include "targets/target_registry.hpp"

#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "core/named_registry.hpp"
#include "targets/builtin_targets.inc" // generated: KCACHE_BUILTIN_TARGETS
#include "targets/target.hpp"

#include <mutex>

namespace kcache {

// Each built-in target's folder defines its factory (targets/<name>/<name>_registration.cpp).
namespace builtin {
#define KCACHE_DECLARE_TARGET(name) TargetFactory targets_##name();
KCACHE_BUILTIN_TARGETS(KCACHE_DECLARE_TARGET)
#undef KCACHE_DECLARE_TARGET
} // namespace builtin

namespace detail {
struct TargetEntry {
    std::string name;
    TargetFactory create;
    mutable std::once_flag created;
    mutable std::unique_ptr<Target> target;

    TargetKind kind() const { return TargetKind(this); }
};
} // namespace detail

namespace {

using detail::TargetEntry;
using Registry = NamedRegistry<TargetEntry>;

// Leaked on purpose: kinds and targets stay valid for static destructors running at exit.
Registry& bare_registry() {
    static Registry* r = new Registry;
    return *r;
}

// The registry with the built-ins in it.
Registry& registry() {
    static std::once_flag builtins;
    std::call_once(builtins, [] { register_builtin_targets(); });
    return bare_registry();
}

} // namespace

// --- TargetKind --------------------------------------------------------------------------------

TargetKind TargetKind::named(std::string_view name) {
    if (TargetKind k = TargetRegistry::find(name))
        return k;
    throw InvalidArgumentError("unknown target kind '" + excerpt(name) +
                               "'; registered: " + TargetRegistry::names());
}

TargetKind TargetKind::nvptx() {
    static const TargetKind k = named("nvptx");
    return k;
}
TargetKind TargetKind::amdgpu() {
    static const TargetKind k = named("amdgpu");
    return k;
}
TargetKind TargetKind::host() {
    static const TargetKind k = named("host");
    return k;
}

std::string_view TargetKind::name() const {
    return entry_ ? std::string_view(entry_->name) : std::string_view();
}

const Target& TargetKind::target() const {
    if (!entry_)
        throw InvalidArgumentError("no target kind given (TargetSpec::kind is empty)");
    std::call_once(entry_->created, [this] {
        std::unique_ptr<Target> t = entry_->create(*this);
        if (!t || t->kind() != *this)
            throw InvalidArgumentError("the factory of target '" + entry_->name +
                                       "' made no target, or one of another kind");
        entry_->target = std::move(t);
    });
    return *entry_->target;
}

// --- TargetRegistry ----------------------------------------------------------------------------

namespace {

TargetKind add_to(Registry& r, std::string name, TargetFactory create) {
    if (!create)
        throw InvalidArgumentError("target '" + excerpt(name) + "' registered without a factory");
    auto entry = std::make_unique<TargetEntry>();
    entry->name = std::move(name);
    entry->create = std::move(create);
    return r.add(std::move(entry), "target").kind();
}

} // namespace

TargetKind TargetRegistry::add(std::string name, TargetFactory create) {
    return add_to(registry(), std::move(name), std::move(create));
}

TargetKind TargetRegistry::find(std::string_view name) {
    const TargetEntry* e = registry().find(name);
    return e ? e->kind() : TargetKind();
}

std::vector<TargetKind> TargetRegistry::all() {
    std::vector<TargetKind> out;
    for (const TargetEntry* e : registry().all())
        out.push_back(e->kind());
    return out;
}

std::string TargetRegistry::names() {
    return registry().names();
}

void register_builtin_targets() {
    static std::once_flag once;
    std::call_once(once, [] {
        Registry& r = bare_registry();
#define KCACHE_ADD_TARGET(name) add_to(r, #name, builtin::targets_##name());
        KCACHE_BUILTIN_TARGETS(KCACHE_ADD_TARGET)
#undef KCACHE_ADD_TARGET
    });
}

} // namespace kcache
