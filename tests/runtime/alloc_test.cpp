// The launch hot paths (artifact and module cached, one block) allocate nothing: launch(), a
// KernelHandle, and the revalidation after a definition that did not touch the kernel.
#include "allocation_counter.hpp"
#include "test_support.hpp"

#include "kernels/library/library.hpp"

#include <gtest/gtest.h>

namespace kcache::test {
namespace {

TEST(HotPath, ALaunchThatHitsDoesNotAllocate) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("HotPath"));
    runtime::Runtime rt(compiler, {host_device()});
    auto& dev = rt.device();
    runtime::DeviceBuffer<float> out(dev, 64);
    const Function& fill = Function::named("fill");
    const Function& saxpy = Function::named("saxpy");
    rt.launch(dev, fill, {1, 64}, out, 1.0f, std::int32_t(64)); // compile, load, warm fibers
    rt.launch(dev, saxpy, {1, 64}, 2.0f, out, out, std::int32_t(64));
    const std::size_t before = thread_allocations();
    for (int i = 0; i < 100; ++i) {
        rt.launch(dev, fill, {1, 64}, out, float(i), std::int32_t(64));
        rt.launch(dev, saxpy, {1, 64}, 2.0f, out, out, std::int32_t(64));
    }
    EXPECT_EQ(thread_allocations() - before, 0u);
    EXPECT_EQ(rt.stats().hits, 200u);
}

TEST(HotPath, ALaunchThroughAHandleDoesNotAllocate) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("HotPathHandle"));
    runtime::Runtime rt(compiler, {host_device()});
    auto& dev = rt.device();
    runtime::DeviceBuffer<float> out(dev, 64);
    const auto fill = rt.kernel<float*, float, std::int32_t>(dev, Function::named("fill"));
    const auto saxpy =
        rt.kernel<float, float*, float*, std::int32_t>(dev, Function::named("saxpy"));
    fill({1, 64}, out, 1.0f, 64); // warm fibers
    saxpy({1, 64}, 2.0f, out, out, 64);
    const std::size_t before = thread_allocations();
    for (int i = 0; i < 100; ++i) {
        fill({1, 64}, out, float(i), 64);
        saxpy({1, 64}, 2.0f, out, out, 64);
    }
    EXPECT_EQ(thread_allocations() - before, 0u);
    EXPECT_EQ(rt.stats().hits, 202u);
    EXPECT_EQ(out.to_vector()[7], 3.0f * 99.0f);
}

TEST(HotPath, RevalidatingAfterAnUnrelatedDefinitionDoesNotAllocate) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("HotPathRevalidate"));
    runtime::Runtime rt(compiler, {host_device()});
    auto& dev = rt.device();
    runtime::DeviceBuffer<float> out(dev, 64);
    const Function& fill = Function::named("fill");
    const auto handle = rt.kernel<float*, float, std::int32_t>(dev, fill);
    handle({1, 64}, out, 1.0f, 64);
    rt.launch(dev, fill, {1, 64}, out, 1.0f, std::int32_t(64));
    add_method(Function::define(unique("unrelated")), Signature{types::Int8()}, 0);
    const std::size_t before = thread_allocations();
    handle({1, 64}, out, 2.0f, 64);                             // revalidates: a probe
    rt.launch(dev, fill, {1, 64}, out, 3.0f, std::int32_t(64)); // the same site: a hit
    EXPECT_EQ(thread_allocations() - before, 0u);
    EXPECT_EQ(out.to_vector()[5], 3.0f);
    EXPECT_EQ(rt.stats().misses, 0u);
    EXPECT_EQ(rt.stats().loads, 1u);
}

} // namespace
} // namespace kcache::test
