#include "store/keys.hpp"

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
