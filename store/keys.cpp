#include "store/keys.hpp"

#include "store/compiler_id.inc" // generated: KCACHE_COMPILER_ID

#include <memory>
#include <mutex>
#include <unordered_map>

namespace kcache::store {
namespace {

void add_env(kernels::DigestBuilder& b, const CompileEnv& env) {
    const Toolchain& t = env.toolchain;
    b.add(env.schema)
        .add(to_string(env.spec.kind))
        .add(env.spec.arch)
        .add(static_cast<std::uint64_t>(env.spec.opt_level))
        .add(t.triple)
        .add(t.cpu)
        .add(t.features)
        .add(t.llvm_version)
        .add(t.tools)
        .add(t.libraries)
        .add(env.compiler);
}

} // namespace

std::string_view compiler_id() {
    return KCACHE_COMPILER_ID;
}

const CompileEnv& compile_env(const TargetSpec& spec) {
    static std::mutex mutex;
    static std::unordered_map<TargetSpec, std::unique_ptr<const CompileEnv>> envs;
    std::lock_guard lock(mutex);
    auto& slot = envs[spec];
    if (!slot) {
        const Target& target = target_for(spec.kind);
        auto env = std::make_unique<CompileEnv>();
        env->spec = target.resolve(spec);
        env->toolchain = target.toolchain(env->spec);
        env->compiler = std::string(compiler_id());
        slot = std::move(env);
    }
    return *slot;
}

Digest ContentKey::digest() const {
    kernels::DigestBuilder b("kcache.content-key");
    add_env(b, env);
    return b.add(ir).finish();
}

Digest ActionKey::digest() const {
    kernels::DigestBuilder b("kcache.action-key");
    add_env(b, env);
    return b.add(entry_source).add(function).add(arg_types).add(table).finish();
}

std::string arg_types_of(Type tt) {
    std::string s;
    for (Type t : tt.elements())
        s += (s.empty() ? "" : ",") + t.str();
    return s;
}

} // namespace kcache::store
