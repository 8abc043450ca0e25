#include "core/method_instance.hpp"

#include "core/errors.hpp"

namespace kcache {

Type MethodInstance::sparam(std::string_view name) const {
    auto vars = def_->signature().type_vars();
    for (std::size_t i = 0; i < vars.size(); ++i)
        if (vars[i].name() == name)
            return sparams_[i];
    throw InvalidArgumentError("method " + def_->str() + " has no type variable '" +
                               std::string(name) + "'");
}

std::string MethodInstance::str() const {
    return call_str(def_->function(), spec_types_);
}

} // namespace kcache
