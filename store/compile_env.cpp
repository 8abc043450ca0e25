// This process's compile environments (store/keys.hpp), apart from the key digests so that the
// entry decoder can be built without the targets (the fuzzer does).
#include "store/keys.hpp"

#include "store/compiler_id.inc" // generated: KCACHE_COMPILER_ID

#include <memory>
#include <mutex>
#include <unordered_map>

namespace kcache::store {

std::string_view compiler_id() {
    return KCACHE_COMPILER_ID;
}

const CompileEnv& compile_env(const TargetSpec& spec) {
    static std::mutex mutex;
    static std::unordered_map<TargetSpec, std::unique_ptr<const CompileEnv>> envs;
    std::lock_guard lock(mutex);
    auto& slot = envs[spec];
    if (!slot) {
        const Target& target = spec.kind.target();
        auto env = std::make_unique<CompileEnv>();
        env->spec = target.resolve(spec);
        env->toolchain = target.toolchain(env->spec);
        env->compiler = std::string(compiler_id());
        slot = std::move(env);
    }
    return *slot;
}

} // namespace kcache::store
