// The kernel front ends under racing definitions: a callee redefined, shadowed by a more
// specific method, or shadowed by an overlay method while a kernel's module is being built,
// before the builder dispatches that callee. The artifact must be built from the new callee,
// never cached from the old one. The definition runs at a fixed point inside the build (from
// another thread, joined there), so the interleaving is exact.
#include "host_runner.hpp"
#include "test_util.hpp"

#include "kernels/frontends/generator/generator.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace kcache::test {
namespace {

using namespace kcache::kernels;
using types::Float32;
using types::Ptr;
using types::Real;

const TargetSpec kHost{TargetKind::host(), "", 0};

Type kernel_tt() {
    return Type::tuple({Ptr(Float32())});
}

float run_store_kernel(const ArtifactPtr& a) {
    return test::run_store_kernel(*a);
}

// A kernel `k(out)` storing callee(1.0f), whose generator first runs `definition` on another
// thread, once, before it calls the callee.
GeneratorFn store_call_after(const Function& callee, std::function<void()> definition,
                             std::shared_ptr<std::atomic<bool>> done) {
    GeneratorFn store = store_call(&callee);
    return [store, definition, done](GenContext& g) {
        if (!done->exchange(true))
            std::thread(definition).join();
        store(g);
    };
}

void expect_new_callee(KernelCompiler& kc, Function& kernel, float expected) {
    ArtifactPtr a = kc.compile(kernel, kernel_tt(), kHost);
    EXPECT_EQ(run_store_kernel(a), expected);
    EXPECT_EQ(kc.cache().stats().stale, 1u); // the first build was discarded, not cached
    EXPECT_EQ(kc.compile(kernel, kernel_tt(), kHost), a); // and the rebuilt one hits
}

// Defines `kernel(out)` in `home`, storing helper(1.0f), and runs `definition` inside its build;
// a compiler over `compile_in` must build it against helper(x) = x + 10, the new callee.
void expect_built_with_callee_defined_mid_build(MethodTable& home, MethodTable& compile_in,
                                                Function& helper, const std::string& name,
                                                std::function<void()> definition) {
    Function& kernel = Function::define(unique("race_kernel"));
    auto done = std::make_shared<std::atomic<bool>>(false);
    add_generator(home, kernel, Signature({Ptr(Float32())}),
                  store_call_after(helper, std::move(definition), done));
    KernelCompiler kc(compile_in, unique(name));
    expect_new_callee(kc, kernel, 11.0f);
}

TEST(KernelWorldRace, CalleeRedefinedMidBuild) {
    MethodTable& table = fresh_table("race_redefine");
    Function& helper = Function::define(unique("race_helper"));
    add_generator(table, helper, Signature({Float32()}), add_const(1.0f), Float32());
    expect_built_with_callee_defined_mid_build(table, table, helper, "race_redefine", [&] {
        add_generator(table, helper, Signature({Float32()}), add_const(10.0f), Float32());
    });
}

TEST(KernelWorldRace, MoreSpecificCalleeInsertedMidBuild) {
    MethodTable& table = fresh_table("race_insert");
    Function& helper = Function::define(unique("race_helper"));
    Type T = Type::type_var("T", Real());
    add_generator(table, helper, Signature({T}, {T}), add_const(1.0f), T);
    expect_built_with_callee_defined_mid_build(table, table, helper, "race_insert", [&] {
        add_generator(table, helper, Signature({Float32()}), add_const(10.0f), Float32());
    });
}

TEST(KernelWorldRace, OverlayShadowsCalleeMidBuild) {
    MethodTable& base = fresh_table("race_base");
    MethodTable& overlay = MethodTable::create_overlay(unique("race_overlay"), base);
    Function& helper = Function::define(unique("race_helper"));
    add_generator(base, helper, Signature({Float32()}), add_const(1.0f), Float32());
    expect_built_with_callee_defined_mid_build(base, overlay, helper, "race_overlay", [&] {
        add_generator(overlay, helper, Signature({Float32()}), add_const(10.0f), Float32());
    });
}

// The IR front end: the kernel calls an IR method, and that method's own callee is redefined
// after the kernel's generator ran but before the IR method's declarations are dispatched.
TEST(KernelWorldRace, CalleeOfAnIRMethodRedefinedMidBuild) {
    MethodTable& table = fresh_table("race_ir");
    Function& leaf = Function::define(unique("race_leaf"));
    Function& mid = Function::define(unique("race_mid"));
    Function& kernel = Function::define(unique("race_kernel"));
    add_generator(table, leaf, Signature({Float32()}), add_const(2.0f), Float32());
    add_ir_method(table, mid, Signature({Float32()}), LlvmIR::text(R"(
declare !kcache.types !{!"Float32"} float @)" + leaf.name() + R"((float)
define float @)" + mid.name() + R"((float %x) {
  %l = call float @)" + leaf.name() + R"((float %x)
  %r = fmul float %l, 3.0
  ret float %r
}
)"));
    auto done = std::make_shared<std::atomic<bool>>(false);
    add_generator(
        table, kernel, Signature({Ptr(Float32())}),
        store_call_after(
            mid,
            [&] { add_generator(table, leaf, Signature({Float32()}), add_const(4.0f), Float32()); },
            done));
    KernelCompiler kc(table, unique("race_ir"));
    expect_new_callee(kc, kernel, 15.0f);
}

} // namespace
} // namespace kcache::test
