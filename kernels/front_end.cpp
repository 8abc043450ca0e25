#include "kernels/front_end.hpp"

#include "core/errors.hpp"
#include "kernels/builtin_front_ends.inc" // generated: KCACHE_BUILTIN_FRONT_ENDS
#include "kernels/errors.hpp"
#include "kernels/type_names.hpp"
#include "targets/llvm/crash_recovery.hpp"
#include "targets/target.hpp"
#include "targets/target_errors.hpp"

#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>
#include <shared_mutex>
#include <vector>

// Each built-in front end's folder defines its factory
// (kernels/frontends/<name>/<name>_registration.cpp).
namespace kcache::builtin {
#define KCACHE_DECLARE_FRONT_END(name) std::unique_ptr<kernels::FrontEnd> front_ends_##name();
KCACHE_BUILTIN_FRONT_ENDS(KCACHE_DECLARE_FRONT_END)
#undef KCACHE_DECLARE_FRONT_END
} // namespace kcache::builtin

namespace kcache::kernels {
namespace {

struct Registry {
    std::shared_mutex mutex;
    std::vector<std::unique_ptr<FrontEnd>> front_ends;
};

// Leaked on purpose: front ends stay valid for static destructors running at exit.
Registry& bare_registry() {
    static Registry* r = new Registry;
    return *r;
}

Registry& registry() {
    static std::once_flag builtins;
    std::call_once(builtins, [] { register_builtin_front_ends(); });
    return bare_registry();
}

void add_to(Registry& r, std::unique_ptr<FrontEnd> front_end) {
    if (!front_end)
        throw InvalidArgumentError("FrontEndRegistry::add: null front end");
    std::unique_lock lock(r.mutex);
    for (const auto& f : r.front_ends)
        if (f->source_type() == front_end->source_type())
            throw InvalidArgumentError("front end '" + std::string(front_end->name()) +
                                       "': its source type is already compiled by '" +
                                       std::string(f->name()) + "'");
    r.front_ends.push_back(std::move(front_end));
}

} // namespace

llvm::Type* BuildContext::llvm_type(Type t) const {
    return kernels::llvm_type(t, llvm_context(), target().address_spaces());
}

void FrontEndRegistry::add(std::unique_ptr<FrontEnd> front_end) {
    add_to(registry(), std::move(front_end));
}

const FrontEnd* FrontEndRegistry::find(std::type_index source_type) {
    Registry& r = registry();
    std::shared_lock lock(r.mutex);
    for (const auto& f : r.front_ends)
        if (f->source_type() == source_type)
            return f.get();
    return nullptr;
}

std::string FrontEndRegistry::names() {
    Registry& r = registry();
    std::shared_lock lock(r.mutex);
    std::string s;
    for (const auto& f : r.front_ends)
        s += (s.empty() ? "" : ", ") + std::string(f->name());
    return s;
}

namespace detail {

void verify_method(llvm::Module& m, const MethodInstance& mi, const std::string& symbol,
                   const TargetSpec& spec) {
    kcache::detail::contain(&m.getContext(), "verify", {symbol, mi.str(), to_string(spec)}, [&] {
        std::string msg;
        llvm::raw_string_ostream os(msg);
        if (llvm::verifyModule(m, &os))
            throw VerifierError("IR of " + mi.str() + " fails verification: " + msg, symbol);
    });
}

} // namespace detail

void register_builtin_front_ends() {
    static std::once_flag once;
    std::call_once(once, [] {
#define KCACHE_ADD_FRONT_END(name) add_to(bare_registry(), builtin::front_ends_##name());
        KCACHE_BUILTIN_FRONT_ENDS(KCACHE_ADD_FRONT_END)
#undef KCACHE_ADD_FRONT_END
    });
}

} // namespace kcache::kernels
