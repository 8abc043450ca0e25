#include "kernels/generator.hpp"

#include "core/errors.hpp"

#include <algorithm>
#include <functional>

namespace kcache::kernels {
namespace {

bool uses_only(Type t, std::span<const Type> vars) {
    switch (t.kind()) {
    case TypeKind::TypeVar:
        return std::find(vars.begin(), vars.end(), t) != vars.end();
    case TypeKind::Pointer:
        return uses_only(t.element(), vars);
    case TypeKind::Tuple:
        return std::all_of(t.elements().begin(), t.elements().end(),
                           [&](Type e) { return uses_only(e, vars); });
    default:
        return true;
    }
}

} // namespace

Method& add_generator(MethodTable& table, Function& f, Signature sig, GeneratorFn body,
                      Type returns, std::string version) {
    if (!body)
        throw InvalidArgumentError("add_generator(" + f.name() + "): empty generator");
    if (returns && !uses_only(returns, sig.type_vars()))
        throw InvalidSignatureError("generator " + sig.str(f.name()) + " returns " + returns.str() +
                                    ", which uses an unbound type variable");
    std::optional<Digest> digest;
    if (!version.empty())
        digest = DigestBuilder("kcache.generator.v1")
                     .add(version)
                     .add(f.name())
                     .add(sig.str(f.name()))
                     .add(returns ? returns.str() : std::string("Nothing"))
                     .add(table.name())
                     .finish();
    return add_method(table, f, std::move(sig),
                      Generator{std::move(body), returns, std::move(version), digest});
}

} // namespace kcache::kernels
