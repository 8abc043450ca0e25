#include "core/named_registry.hpp"

#include "core/errors.hpp"
#include "core/excerpt.hpp"

namespace kcache {

void check_registry_name(std::string_view name, std::string_view what) {
    bool ok = !name.empty() && name.size() <= 32;
    for (char c : name)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    if (!ok)
        throw InvalidArgumentError(std::string(what) + " name '" + excerpt(name) +
                                   "' is not 1..32 lowercase letters, digits, '_' or '-'");
}

void throw_already_registered(std::string_view what, std::string_view name) {
    throw InvalidArgumentError(std::string(what) + " '" + std::string(name) +
                               "' is already registered");
}

} // namespace kcache
