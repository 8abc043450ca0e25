// The proof that kcache is open to new backends and front ends: a target ("testcpu"), a device
// driver for it and a front end (the demo's expression language), all written in this folder and
// registered from this program, with no edit to targets/, kernels/, runtime/, store/ or tools/.
// Kernels of every front end are compiled through KernelCompiler and launched through Runtime on
// the new devices; redefining a method invalidates across front ends as anywhere else.
// (The registries are process-wide: ctest runs each test in a process of its own.)
#include "expr_front_end.hpp"
#include "testcpu_device.hpp"
#include "testcpu_target.hpp"

#include "core/errors.hpp"
#include "kernels/front_end.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "runtime/buffer.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/drivers/host/host_device.hpp"
#include "runtime/kernel_handle.hpp"
#include "runtime/runtime.hpp"
#include "targets/target_registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kcache::test {
namespace {

using expr::arg;
using expr::call;
using expr::constant;

std::uint32_t blocks_for(std::size_t n, std::uint32_t block) {
    return std::uint32_t((n + block - 1) / block);
}

/// The testcpu devices, found the way every device is: through enumerate_devices.
std::vector<std::shared_ptr<runtime::Device>> testcpu_devices() {
    const runtime::DeviceKind kind = testcpu_driver();
    std::vector<std::shared_ptr<runtime::Device>> found;
    for (auto& d : runtime::enumerate_devices())
        if (d->kind() == kind)
            found.push_back(d);
    return found;
}

TEST(Extension, TheRegisteredBackendIsListedAndCompilesForItsOwnTarget) {
    const TargetKind target = testcpu_target();
    const runtime::DeviceKind driver = testcpu_driver();
    EXPECT_EQ(TargetKind::named("testcpu"), target);
    EXPECT_EQ(runtime::DeviceKind::named("testcpu"), driver);
    EXPECT_NE(TargetRegistry::names().find("testcpu"), std::string::npos);
    EXPECT_NE(runtime::DeviceRegistry::names().find("testcpu"), std::string::npos);

    const auto devices = testcpu_devices();
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_EQ(devices[0]->target().kind, target);
    EXPECT_EQ(devices[0]->name().rfind("testcpu:0", 0), 0u) << devices[0]->name();
    EXPECT_EQ(devices[1]->name().rfind("testcpu:1", 0), 0u) << devices[1]->name();

    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), "Extension.Artifacts");
    const Type tt = tt_of<float, float*, float*, std::int32_t>();
    const kernels::ArtifactPtr a =
        compiler.compile(Function::named("saxpy"), tt, devices[0]->target());
    ASSERT_TRUE(a);
    EXPECT_EQ(a->kind, target);
    EXPECT_EQ(a->format, "testcpu-object");
    // Its own shard: the host target's artifact is another.
    const kernels::ArtifactPtr h =
        compiler.compile(Function::named("saxpy"), tt, {TargetKind::host(), "", 2});
    EXPECT_EQ(h->kind, TargetKind::host());
    EXPECT_NE(a.get(), h.get());
    // The host device cannot load it, and the testcpu device cannot load the host's.
    runtime::HostDevice host;
    EXPECT_THROW(host.load(*a), Error);
    EXPECT_THROW(devices[0]->load(*h), runtime::RuntimeError);
}

// The library's generator and LLVM IR kernels, launched through Runtime on both new devices; the
// driver sets every argument from the layout the runtime derived from the signature.
TEST(Extension, LibraryKernelsRunOnTheRegisteredDevices) {
    kernels::register_all();
    const auto devices = testcpu_devices();
    ASSERT_EQ(devices.size(), 2u);
    kernels::KernelCompiler compiler(MethodTable::global(), "Extension.Library");
    runtime::Runtime rt(compiler, devices);
    for (std::size_t d = 0; d < devices.size(); ++d) {
        SCOPED_TRACE(devices[d]->name());
        auto& dev = static_cast<TestCpuDevice&>(rt.device(d));
        const std::uint64_t launched = dev.launches();
        const std::size_t n = 1000;
        std::vector<float> x(n), y(n);
        std::vector<double> x64(n), y64(n);
        for (std::size_t i = 0; i < n; ++i) {
            x[i] = float(i), y[i] = float(n - i);
            x64[i] = double(i) * 0.5, y64[i] = 1.0 / double(i + 1);
        }
        runtime::DeviceBuffer<float> dx(dev, x), dy(dev, y);
        rt.launch(dev, Function::named("saxpy"), {blocks_for(n, 64), 64}, 1.5f, dx, dy,
                  std::int32_t(n));
        auto r = dy.to_vector();
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_FLOAT_EQ(r[i], std::fma(1.5f, x[i], y[i])) << i;

        // Mixed sizes and alignments (Float32, Ptr, Float32, Ptr, Int32) through the IR front end.
        runtime::DeviceBuffer<float> ax(dev, x), ay(dev, y);
        rt.launch(dev, Function::named("axpby_ir"), {blocks_for(n, 16), 16}, 3.0f, ax, 0.5f, ay,
                  std::int32_t(n));
        r = ay.to_vector();
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_FLOAT_EQ(r[i], 3.0f * x[i] + 0.5f * y[i]) << i;

        // Shared memory, barriers and atomics: the target's own numbering for shared memory.
        runtime::DeviceBuffer<double> in(dev, x64), out(dev, std::vector<double>{0.0});
        rt.launch(dev, Function::named("reduce_sum"), {4, 128}, in, out, std::int32_t(n));
        double sum = 0;
        for (double v : x64)
            sum += v;
        EXPECT_DOUBLE_EQ(out.to_vector()[0], sum);
        // Through a call-site handle: the same module, the same layout.
        auto saxpy = rt.kernel<float, float*, float*, std::int32_t>(dev, Function::named("saxpy"));
        runtime::DeviceBuffer<float> hy(dev, y);
        saxpy({blocks_for(n, 128), 128}, -1.0f, dx, hy, std::int32_t(n));
        r = hy.to_vector();
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_FLOAT_EQ(r[i], std::fma(-1.0f, x[i], y[i])) << i;
        EXPECT_EQ(dev.launches(), launched + 4);
    }
    EXPECT_EQ(rt.loaded_modules(rt.device(0)), 3u);
    EXPECT_EQ(rt.loaded_modules(rt.device(1)), 3u);
    EXPECT_EQ(compiler.stats().compilations, 3u) << "both devices share one target shard";
}

class ExprKernels : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        expr::register_front_end();
        kernels::register_all();
    }
    MethodTable& table_ = MethodTable::global();
};

TEST_F(ExprKernels, TheFrontEndIsRegisteredByItsSourceType) {
    const kernels::FrontEnd* fe = kernels::FrontEndRegistry::find(typeid(expr::ExprSource));
    ASSERT_NE(fe, nullptr);
    EXPECT_EQ(fe->name(), "expression");
    EXPECT_NE(kernels::FrontEndRegistry::names().find("expression"), std::string::npos);
    EXPECT_THROW(kernels::FrontEndRegistry::add(expr::make_front_end()), InvalidArgumentError);
}

// An expression kernel calling an expression function and the library's generator muladd runs on
// the testcpu devices and the host device; redefining the expression function recompiles the
// kernel on each, and a new source digest comes with the new definition.
TEST_F(ExprKernels, RunEndToEndAcrossFrontEndsAndAreInvalidatedByRedefinition) {
    Function& scale = Function::define("ext_scale");
    Function& kernel = Function::define("ext_kernel");
    const Type F32 = types::Float32();
    Method& first = expr::add_function(table_, scale, Signature{F32}, arg(0) * constant(3));
    // out[i] = muladd(scale(a[i]), b, 1)
    expr::add_kernel(table_, kernel,
                     Signature{types::Ptr(F32), types::Ptr(F32), F32, types::Int32()},
                     call("muladd", {call("ext_scale", {arg(1)}), arg(2), constant(1)}));

    auto devices = testcpu_devices();
    ASSERT_EQ(devices.size(), 2u);
    devices.push_back(std::make_shared<runtime::HostDevice>());
    kernels::KernelCompiler compiler(table_, "Extension.Expr");
    runtime::Runtime rt(compiler, devices);

    const std::size_t n = 513;
    std::vector<float> a(n);
    for (std::size_t i = 0; i < n; ++i)
        a[i] = float(i) - 100.0f;
    auto run = [&](runtime::Device& dev) {
        runtime::DeviceBuffer<float> out(dev, n), in(dev, a);
        rt.launch(dev, kernel, {blocks_for(n, 32), 32}, out, in, 0.5f, std::int32_t(n));
        return out.to_vector();
    };
    for (auto& d : devices) {
        SCOPED_TRACE(d->name());
        const auto r = run(*d);
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_FLOAT_EQ(r[i], std::fma(a[i] * 3.0f, 0.5f, 1.0f)) << i;
    }
    EXPECT_EQ(compiler.stats().compilations, 2u) << "one per target: testcpu and host";

    const kernels::FrontEnd* fe = kernels::FrontEndRegistry::find(typeid(expr::ExprSource));
    ASSERT_NE(fe, nullptr);
    const kernels::Digest before = *fe->source_digest(first);
    Method& second =
        expr::add_function(table_, scale, Signature{F32}, arg(0) * constant(3) + constant(2));
    EXPECT_NE(*fe->source_digest(second), before);
    for (auto& d : devices) {
        SCOPED_TRACE(d->name());
        const auto r = run(*d);
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_FLOAT_EQ(r[i], std::fma(a[i] * 3.0f + 2.0f, 0.5f, 1.0f)) << i;
    }
    EXPECT_EQ(compiler.stats().compilations, 4u) << "the kernel recompiled once per target";
}

// A malformed expression method is a typed error naming the method; nothing is cached, and the
// kernel compiles once it is defined properly.
TEST_F(ExprKernels, AMalformedMethodIsATypedErrorAndNothingIsCached) {
    Function& bad = Function::define("ext_bad");
    const Type F32 = types::Float32();
    const Type tt = Type::tuple({types::Ptr(F32), types::Int32()});
    expr::add_kernel(table_, bad, Signature{types::Ptr(F32), types::Int32()}, arg(5));
    kernels::KernelCompiler compiler(table_, "Extension.Errors");
    const TargetSpec spec{testcpu_target(), "", 2};
    try {
        compiler.compile(bad, tt, spec);
        ADD_FAILURE() << "compiled a kernel reading argument 5 of 2";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("ext_bad"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("argument 5"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(compiler.lookup(bad, tt, spec));
    expr::add_kernel(table_, bad, Signature{types::Ptr(F32), types::Int32()}, constant(7));
    EXPECT_TRUE(compiler.compile(bad, tt, spec));
}

} // namespace
} // namespace kcache::test
