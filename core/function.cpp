#include "core/function.hpp"

#include <map>
#include <memory>
#include <mutex>

#include "core/errors.hpp"
#include "core/types.hpp"

namespace kcache {

class FunctionRegistry {
public:
    static FunctionRegistry& instance() {
        static FunctionRegistry registry;
        return registry;
    }

    Function& define(std::string_view name) {
        if (name.empty())
            throw InvalidArgumentError("a function needs a name");
        std::lock_guard lock(mutex_);
        auto it = functions_.find(name);
        if (it != functions_.end())
            return *it->second;
        auto f = std::unique_ptr<Function>(new Function(std::string(name), next_id_++));
        Function& ref = *f;
        functions_.emplace(ref.name(), std::move(f));
        return ref;
    }

    Function* find(std::string_view name) {
        std::lock_guard lock(mutex_);
        auto it = functions_.find(name);
        return it == functions_.end() ? nullptr : it->second.get();
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Function>, std::less<>> functions_;
    std::uint64_t next_id_ = 1;
};

Function& Function::define(std::string_view name) {
    return FunctionRegistry::instance().define(name);
}

Function* Function::find(std::string_view name) {
    return FunctionRegistry::instance().find(name);
}

std::string call_str(const Function& f, Type tt) {
    std::string call = f.name() + "(";
    auto args = tt.elements();
    for (std::size_t i = 0; i < args.size(); ++i)
        call += (i ? ", ::" : "::") + args[i].str();
    return call + ")";
}

Function& Function::named(std::string_view name) {
    if (Function* f = find(name))
        return *f;
    throw UnknownFunctionError(std::string(name));
}

} // namespace kcache
