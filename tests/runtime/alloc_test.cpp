// The launch hot path (artifact and module cached, one block) allocates nothing.
#include "allocation_counter.hpp"
#include "test_support.hpp"

#include "kernels/library.hpp"

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

} // namespace
} // namespace kcache::test
