#include "store_util.hpp"

#include "../kernels/test_util.hpp"
#include "kernels/frontends/generator/emit.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "runtime/drivers/host/host_device.hpp"
#include "runtime/runtime.hpp"

#include <atomic>
#include <cstdio>
#include <unistd.h>

namespace kcache::test {

using namespace types;

TempDir::TempDir(const std::string& prefix) {
    static std::atomic<int> n{0};
    path_ = fs::temp_directory_path() / ("kcache-" + prefix + "-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(n.fetch_add(1)));
    fs::remove_all(path_);
    fs::create_directories(path_);
    fs::permissions(path_, fs::perms::owner_all);
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::unique_ptr<store::Store> make_store(const fs::path& dir, std::uint64_t max_size,
                                         std::chrono::milliseconds lock_timeout) {
    std::vector<std::unique_ptr<store::Tier>> tiers;
    tiers.push_back(std::make_unique<store::MemoryTier>(std::uint64_t(256) << 20));
    std::string why;
    auto disk = store::DiskTier::open({dir, max_size, lock_timeout}, why);
    if (!disk)
        throw std::runtime_error("the disk tier did not open: " + why);
    tiers.push_back(std::move(disk));
    return std::make_unique<store::Store>(std::move(tiers));
}

store::ContentKey key_n(int n) {
    store::ContentKey k{store::compile_env({TargetKind::host(), "", 2}), kernels::Digest{}};
    k.ir.bytes[0] = static_cast<std::uint8_t>(n);
    k.ir.bytes[1] = static_cast<std::uint8_t>(n >> 8);
    return k;
}

store::ArtifactPtr artifact_n(int n, std::size_t size) {
    auto a = std::make_shared<Artifact>();
    a->kind = TargetKind::host();
    a->format = "object";
    a->kernel_symbol = "kcache_kernel";
    a->bytes.assign(size, static_cast<std::uint8_t>(n));
    return a;
}

std::shared_ptr<const store::ActionEntry> action_n(int n) {
    auto e = std::make_shared<store::ActionEntry>();
    e->key = store::ActionKey{store::compile_env({TargetKind::host(), "", 2}), kernels::Digest{},
                              "f", "Float32", "global"};
    e->key.entry_source.bytes[0] = static_cast<std::uint8_t>(n);
    e->ir = key_n(n).ir;
    e->dispatches.push_back({"g", "Float32", "global", kernels::Digest{}});
    return e;
}

std::unique_ptr<store::Store> memory_store() {
    std::vector<std::unique_ptr<store::Tier>> tiers;
    tiers.push_back(std::make_unique<store::MemoryTier>(std::uint64_t(256) << 20));
    return std::make_unique<store::Store>(std::move(tiers));
}

store::DiskTier& disk_of(store::Store& s) {
    return dynamic_cast<store::DiskTier&>(*s.tier("disk"));
}

store::MemoryTier& memory_of(store::Store& s) {
    return dynamic_cast<store::MemoryTier&>(*s.tier("memory"));
}

namespace {

kernels::GeneratorFn adds(float c) {
    return [c](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        llvm::Value* x = g.function().getArg(0);
        b.CreateRet(b.CreateFAdd(x, llvm::ConstantFP::get(x->getType(), c)));
    };
}

std::string version_of(float c) {
    return "adds " + std::to_string(c);
}

} // namespace

Method& add_adder(MethodTable& table, Function& f, float c) {
    Type t = Type::type_var("T", Real());
    return kernels::add_generator(table, f, Signature({t}, {t}), adds(c), t, version_of(c));
}

Method& add_float_adder(MethodTable& table, Function& f, float c) {
    return kernels::add_generator(table, f, Signature({Float32()}), adds(c), Float32(),
                                  version_of(c));
}

Method& add_ir_adder(MethodTable& table, Function& g, float c) {
    char ir[256];
    std::snprintf(ir, sizeof ir,
                  "define float @%s(float %%x) {\n  %%r = fadd float %%x, %e\n  ret float %%r\n}\n",
                  g.name().c_str(), static_cast<double>(c));
    return kernels::add_ir_method(table, g, Signature({Float32()}), kernels::LlvmIR::text(ir));
}

Method& add_sum_kernel(MethodTable& table, Function& k, const Function& f, const Function& g,
                       const std::string& version) {
    auto body = [&f, &g](kernels::GenContext& gen) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(gen.context(), "entry", &gen.function()));
        llvm::Value *out = gen.function().getArg(0), *n = gen.function().getArg(1);
        llvm::Value* i = kernels::emit::global_id(b);
        kernels::emit::if_then(b, b.CreateICmpSLT(i, n), [&] {
            llvm::Value* x = b.CreateSIToFP(i, b.getFloatTy());
            llvm::Value* fx = gen.call(b, f, {{Float32(), x}});
            llvm::Value* gx = gen.call(b, g, {{Float32(), x}});
            kernels::emit::store(b, b.CreateFAdd(fx, gx), out, i);
        });
        b.CreateRetVoid();
    };
    return kernels::add_generator(table, k, Signature({Ptr(Float32()), Int32()}), body, Type(),
                                  version);
}

std::vector<float> sums(float cf, float cg) {
    std::vector<float> v;
    for (int i = 0; i < 4; ++i)
        v.push_back((float(i) + cf) + (float(i) + cg));
    return v;
}

std::vector<float> run_on_host(kernels::KernelCompiler& compiler, const Function& k, int n) {
    static auto host = std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
    runtime::Runtime rt(compiler, {host});
    runtime::DeviceBuffer<float> out(*host, static_cast<std::size_t>(n));
    rt.launch(*host, k, {1, 32}, out, std::int32_t(n));
    return out.to_vector();
}

Chain::Chain()
    : table(MethodTable::create_overlay(unique("chain"))), f(Function::define(unique("f"))),
      g(Function::define(unique("g"))), k(Function::define(unique("k"))) {
    add_adder(MethodTable::global(), f, 1.0f);
    add_ir_adder(MethodTable::global(), g, 2.0f);
    add_sum_kernel(MethodTable::global(), k, f, g);
}

Compiler::Compiler(MethodTable& table, store::Store& store)
    : cache(unique("recall"), table), compiler(cache, &store) {}

Scenario::Scenario(const std::string& variant)
    : table(MethodTable::create_overlay("kcache.test.scenario")), f(Function::define("scenario_f")),
      g(Function::define("scenario_g")), k(Function::define("scenario_k")) {
    add_adder(MethodTable::global(), f, variant == "changed" ? 10.0f : 1.0f);
    add_ir_adder(MethodTable::global(), g, variant == "ir-changed" ? 2.0f : 1.0f);
    if (variant == "overlay")
        add_float_adder(table, f, 100.0f);
    if (variant == "specific")
        add_float_adder(MethodTable::global(), f, 1000.0f);
    add_sum_kernel(MethodTable::global(), k, f, g);
}

} // namespace kcache::test
