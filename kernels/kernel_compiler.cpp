#include "kernels/kernel_compiler.hpp"

#include "core/dispatch.hpp"
#include "kernels/module_builder.hpp"
#include "targets/llvm/isolated_context.hpp"
#include "targets/target.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <vector>

namespace kcache::kernels {
namespace {

using Clock = std::chrono::steady_clock;

// Dispatch and dependencies through the cache's compilation context, so that the module's
// callees are backedges of the cached artifact.
template <class Ctx>
class ContextResolver final : public Resolver {
public:
    explicit ContextResolver(Ctx& ctx) : ctx_(ctx) {}
    MethodInstance* dispatch(const Function& f, Type tt) override {
        return ctx_.method_instance(f, tt);
    }
    void depend(const MethodInstance& callee) override { ctx_.register_dependency(callee); }
    const MethodTable& table() const override { return ctx_.cache().method_table(); }

private:
    Ctx& ctx_;
};

// Passes dispatches and dependencies through and remembers each distinct dispatch, for the store.
class RecordingResolver final : public Resolver {
public:
    explicit RecordingResolver(Resolver& inner) : inner_(inner) {}
    MethodInstance* dispatch(const Function& f, Type tt) override {
        MethodInstance* chosen = inner_.dispatch(f, tt);
        if (chosen) {
            bool seen = false;
            for (const Dispatch& d : dispatches_)
                seen |= d.function == &f && d.tt == tt;
            if (!seen)
                dispatches_.push_back({&f, tt, chosen});
        }
        return chosen;
    }
    void depend(const MethodInstance& callee) override { inner_.depend(callee); }
    const MethodTable& table() const override { return inner_.table(); }
    std::span<const Dispatch> dispatches() const { return dispatches_; }

private:
    Resolver& inner_;
    std::vector<Dispatch> dispatches_;
};

} // namespace

KernelCompiler::KernelCompiler(MethodTable& table, std::string tag, ArtifactStore* store)
    : owned_(std::make_unique<KernelCache>(std::move(tag), table)), cache_(owned_.get()),
      store_(store) {}

KernelCompiler::KernelCompiler(KernelCache& cache, ArtifactStore* store)
    : cache_(&cache), store_(store) {}

KernelCompiler::~KernelCompiler() = default;

namespace {
TargetSpec resolve(const TargetSpec& spec) {
    return spec.kind.target().resolve(spec);
}
} // namespace

ArtifactPtr KernelCompiler::compile(const Function& f, Type tt, const TargetSpec& spec) {
    // The hit path: entries are keyed by resolved specs, so a spec given resolved hits without
    // being checked again (resolving allocates); anything else misses and is resolved below.
    if (const ArtifactPtr* hit = cache_->lookup(f, tt, spec))
        return *hit;
    const TargetSpec r = resolve(spec); // before the cache: a bad spec never makes an entry
    auto result = cached_compilation(*cache_, f, tt, r, [&](auto& ctx) -> ArtifactPtr {
        ContextResolver resolver(ctx);
        return compile_mi(ctx.mi(), r, resolver);
    });
    if (!result)
        throw_method_error(f, tt, cache_->method_table());
    return *result;
}

ArtifactPtr KernelCompiler::lookup(const Function& f, Type tt, const TargetSpec& spec) const {
    const ArtifactPtr* found = cache_->lookup(f, tt, resolve(spec));
    return found ? *found : nullptr;
}

std::unique_ptr<llvm::Module> KernelCompiler::build_module(const Function& f, Type tt,
                                                           const TargetSpec& spec,
                                                           llvm::LLVMContext& ctx) const {
    const TargetSpec r = resolve(spec);
    MethodInstance& mi = require_method_instance(f, tt, cache_->method_table());
    TableResolver resolver(cache_->method_table());
    ModuleBuilder builder(ctx, resolver, r);
    return builder.build(mi, mi.function().name());
}

ArtifactPtr KernelCompiler::compile_mi(const MethodInstance& mi, const TargetSpec& spec,
                                       Resolver& resolver) {
    compilations_.fetch_add(1, std::memory_order_relaxed);
    const std::string kernel = mi.function().name();
    const CompileInfo info{&mi, spec, kernel, &resolver.table()};
    if (store_) {
        if (ArtifactPtr recalled = store_->recall(info, resolver)) {
            recalls_.fetch_add(1, std::memory_order_relaxed);
            return recalled;
        }
    }

    // One context per compilation: the targets install diagnostic handlers on it. Isolated: if
    // LLVM crashes in it, it is abandoned with its modules, not destroyed.
    IsolatedContext isolated;
    llvm::LLVMContext& llctx = isolated.get();
    const auto start = Clock::now();
    RecordingResolver recorder(resolver);
    // Owned by the context from here.
    llvm::Module* m = ModuleBuilder(llctx, recorder, spec).build(mi, kernel).release();
    build_ns_.fetch_add(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count(),
        std::memory_order_relaxed);

    const Target& target = spec.kind.target();
    const auto prepare = target.prepare(*m, kernel, spec);
    prepare_ns_.fetch_add(prepare.count(), std::memory_order_relaxed);

    ArtifactStore::Probe probe;
    if (store_) {
        probe = store_->probe(*m, info, recorder.dispatches());
        if (probe.hit) {
            store_hits_.fetch_add(1, std::memory_order_relaxed);
            return probe.hit;
        }
    }

    const auto optimize = target.optimize(*m, spec);
    optimize_ns_.fetch_add(optimize.count(), std::memory_order_relaxed);
    Artifact artifact = target.emit(*m, spec);
    emit_ns_.fetch_add(artifact.times.emit.count(), std::memory_order_relaxed);
    artifact.times.prepare = prepare;
    artifact.times.optimize = optimize;
    auto result = std::make_shared<const Artifact>(std::move(artifact));
    if (probe.pending)
        if (ArtifactPtr stored = probe.pending->publish(result))
            return stored;
    return result;
}

KernelCompilerStats KernelCompiler::stats() const {
    KernelCompilerStats s;
    s.compilations = compilations_.load(std::memory_order_relaxed);
    s.recalls = recalls_.load(std::memory_order_relaxed);
    s.store_hits = store_hits_.load(std::memory_order_relaxed);
    s.build = std::chrono::nanoseconds(build_ns_.load(std::memory_order_relaxed));
    s.prepare = std::chrono::nanoseconds(prepare_ns_.load(std::memory_order_relaxed));
    s.optimize = std::chrono::nanoseconds(optimize_ns_.load(std::memory_order_relaxed));
    s.emit = std::chrono::nanoseconds(emit_ns_.load(std::memory_order_relaxed));
    return s;
}

} // namespace kcache::kernels
