// The launch hot path (artifact and module cached, one block) allocates nothing: counted by
// replacing the global operator new in this test program.
#include "test_support.hpp"

#include "kernels/library.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

namespace {
thread_local std::size_t allocations = 0;
}

void* operator new(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n ? n : 1))
        return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

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
    const std::size_t before = allocations;
    for (int i = 0; i < 100; ++i) {
        rt.launch(dev, fill, {1, 64}, out, float(i), std::int32_t(64));
        rt.launch(dev, saxpy, {1, 64}, 2.0f, out, out, std::int32_t(64));
    }
    EXPECT_EQ(allocations - before, 0u);
    EXPECT_EQ(rt.stats().hits, 200u);
}

} // namespace
} // namespace kcache::test
