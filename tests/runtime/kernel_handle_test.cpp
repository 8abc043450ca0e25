// KernelHandle: resolved when made, launches as launch() does, redefinition evicts and reloads
// through it (with threads launching through one handle meanwhile; deferred eviction through a
// handle is in eviction_test.cpp), typed errors for misuse, and a clear error once its Runtime
// is gone.
#include "test_support.hpp"
#include "tracking_device.hpp"

#include "core/errors.hpp"
#include "kernels/library/library.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <latch>
#include <optional>
#include <thread>

namespace kcache::test {
namespace {

using runtime::DeviceBuffer;
using I32 = std::int32_t;

std::shared_ptr<runtime::HostDevice> small_host() {
    return std::make_shared<runtime::HostDevice>(runtime::HostDeviceOptions{1});
}

// out[i] == i + c for every i, and c itself.
float constant_of(const std::vector<float>& v, bool& consistent) {
    consistent = true;
    for (std::size_t i = 0; i < v.size(); ++i)
        consistent = consistent && v[i] == float(i) + v[0];
    return v[0];
}

TEST(KernelHandle, ResolvedWhenMadeThenLaunchesAsLaunchDoes) {
    RedefinableKernel k(1.0f);
    kernels::KernelCompiler compiler(k.table, unique("handle"));
    auto dev = small_host();
    runtime::Runtime rt(compiler, {dev});
    const auto user = rt.kernel<float*, I32>(*dev, k.user);
    EXPECT_EQ(rt.stats().loads, 1u); // compiled and loaded by kernel<>(), before any launch
    EXPECT_EQ(dev->loaded_modules(), 1u);
    EXPECT_EQ(&user.device(), dev.get());

    const std::size_t n = 100;
    DeviceBuffer<float> out(*dev, n);
    for (int i = 0; i < 10; ++i)
        user({4, 32}, out, I32(n));
    const auto v = out.to_vector();
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(v[i], float(i) + 1.0f);
    rt.launch(*dev, k.user, {4, 32}, out, I32(n)); // the same site and module
    const auto s = rt.stats();
    EXPECT_EQ(s.hits, 11u);
    EXPECT_EQ(s.misses, 0u);
    EXPECT_EQ(s.loads, 1u);
    EXPECT_EQ(compiler.stats().compilations, 1u);
}

TEST(KernelHandle, ArgumentsConvertAsInACall) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("handle_args"));
    runtime::Runtime rt(compiler, {host_device()});
    auto& dev = rt.device();
    const auto fill = rt.kernel<float*, float, I32>(dev, Function::named("fill"));
    DeviceBuffer<float> out(dev, 8);
    fill({1, 8}, out, 3, 8); // a buffer for float*, ints for Float32 and Int32
    EXPECT_EQ(out.to_vector(), std::vector<float>(8, 3.0f));
    fill({1, 8}, runtime::DevicePtr<float>{out.data(), &dev}, 4.5, std::int64_t(8));
    EXPECT_EQ(out.to_vector(), std::vector<float>(8, 4.5f));
    fill({1, 4}, out.data(), 5.0f, I32(4)); // a raw device address
    EXPECT_EQ(out.to_vector()[3], 5.0f);
    EXPECT_EQ(out.to_vector()[4], 4.5f);
}

TEST(KernelHandle, MisuseIsATypedErrorAndLaunchesNothing) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("handle_misuse"));
    auto dev = small_host(), other = small_host();
    runtime::Runtime rt(compiler, {dev});
    const Function& fill = Function::named("fill");
    EXPECT_THROW((void)(rt.kernel<float*, float>(*dev, fill)), MethodError); // no such method
    EXPECT_THROW((void)(rt.kernel<float*, float, I32>(*other, fill)), InvalidArgumentError);
    EXPECT_EQ(rt.stats().loads, 0u);

    const auto k = rt.kernel<float*, float, I32>(*dev, fill);
    DeviceBuffer<float> foreign(*other, 8);
    EXPECT_THROW(k({1, 8}, foreign, 1.0f, I32(8)), runtime::LaunchError);
    auto stream = other->create_stream();
    DeviceBuffer<float> out(*dev, std::vector<float>(8, 0.0f));
    EXPECT_THROW(k({{1}, {8}, 0, stream.get()}, out, 1.0f, I32(8)), runtime::LaunchError);
    EXPECT_THROW(k({0, 8}, out, 1.0f, I32(8)), runtime::LaunchError); // the device's check
    EXPECT_EQ(out.to_vector(), std::vector<float>(8, 0.0f));
    k({1, 8}, out, 1.0f, I32(8)); // a failed launch released what it held
    EXPECT_EQ(out.to_vector(), std::vector<float>(8, 1.0f));
}

TEST(KernelHandle, RedefinitionEvictsAndReloadsThroughTheHandle) {
    RedefinableKernel k(1.0f);
    kernels::KernelCompiler compiler(k.table, unique("handle_redefined"));
    auto dev = small_host();
    runtime::Runtime rt(compiler, {dev});
    const auto user = rt.kernel<float*, I32>(*dev, k.user);
    const std::size_t n = 64;
    DeviceBuffer<float> out(*dev, n);
    auto run = [&] {
        user({2, 32}, out, I32(n));
        return out.to_vector();
    };
    EXPECT_EQ(run()[5], 6.0f);

    k.redefine(10.0f);
    EXPECT_EQ(rt.stats().evictions, 1u); // nothing in flight: unloaded at once
    EXPECT_EQ(dev->loaded_modules(), 0u);
    EXPECT_EQ(run()[5], 15.0f);
    EXPECT_EQ(rt.stats().loads, 2u);
    EXPECT_EQ(rt.stats().misses, 1u);

    // A definition elsewhere moves the world: the handle checks again and keeps its module.
    add_method(Function::define(unique("unrelated")), Signature{types::Int8()}, 0);
    EXPECT_EQ(run()[5], 15.0f);
    EXPECT_EQ(rt.stats().loads, 2u);
    EXPECT_EQ(rt.stats().misses, 1u);
    EXPECT_EQ(compiler.stats().compilations, 2u);
}

// Threads launch through one handle (and one through launch()) while the kernel's callee is
// redefined. A device that checks every launch and unload finds no launch of an unloaded module
// and no unload under a launch; every result is one whole definition, and once a redefinition
// has returned, every thread's next launch runs it.
TEST(KernelHandle, ConcurrentLaunchesThroughOneHandleWhileRedefining) {
    RedefinableKernel k(1.0f);
    kernels::KernelCompiler compiler(k.table, unique("handle_concurrent"));
    auto tracking = std::make_shared<TrackingDevice>(host_device());
    runtime::Runtime rt(compiler, {tracking});
    const auto user = rt.kernel<float*, I32>(*tracking, k.user);
    constexpr int kDefinitions = 12, kThreads = 4;
    std::atomic<bool> stop{false};
    std::atomic<float> current{1.0f}; // the constant of the last definition that returned
    std::atomic<int> bad{0};
    std::array<std::atomic<float>, kThreads> seen{}; // each thread's last constant
    std::latch started(kThreads + 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            const std::size_t n = 300;
            DeviceBuffer<float> out(*tracking, n);
            const auto copy = user;
            started.arrive_and_wait();
            while (!stop.load()) {
                const float floor = current.load();
                if (t == kThreads - 1)
                    rt.launch(*tracking, k.user, {10, 32}, out, I32(n));
                else
                    (t == 0 ? user : copy)({10, 32}, out, I32(n));
                bool consistent;
                const float c = constant_of(out.to_vector(), consistent);
                if (!consistent || c < floor)
                    bad.fetch_add(1);
                seen[t].store(c);
            }
        });
    started.arrive_and_wait();
    for (int d = 1; d <= kDefinitions; ++d) {
        const float c = float(d * 10);
        k.redefine(c);
        current.store(c);
        for (auto& s : seen) // every thread launches the new code before the next definition
            while (s.load() != c)
                std::this_thread::yield();
    }
    stop = true;
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(tracking->violations(), 0);
    EXPECT_EQ(rt.pending_unloads(), 0u);
    const auto s = rt.stats();
    EXPECT_EQ(s.loads, std::uint64_t(kDefinitions + 1)); // each definition loaded once
    EXPECT_EQ(s.evictions, std::uint64_t(kDefinitions)); // and each but the last unloaded
    EXPECT_EQ(rt.loaded_modules(*tracking), 1u);
    EXPECT_EQ(s.hits + s.misses, tracking->launches());
}

TEST(KernelHandle, OutlivingItsRuntimeIsALaunchError) {
    RedefinableKernel k(1.0f);
    kernels::KernelCompiler compiler(k.table, unique("handle_outlives"));
    std::optional<runtime::KernelHandle<float*, I32>> user;
    std::vector<float> host(8, 0.0f);
    {
        auto dev = small_host();
        runtime::Runtime rt(compiler, {dev});
        user.emplace(rt.kernel<float*, I32>(*dev, k.user));
        (*user)({1, 8}, host.data(), I32(8));
        EXPECT_EQ(host[3], 4.0f);
    } // the runtime and the caller's device reference are gone; the handle keeps the device
    try {
        (*user)({1, 8}, host.data(), I32(8));
        FAIL() << "expected LaunchError";
    } catch (const runtime::LaunchError& e) {
        EXPECT_NE(std::string(e.what()).find("Runtime has been destroyed"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(k.user.name()), std::string::npos) << e.what();
    }
    k.redefine(5.0f); // no runtime listens any more: nothing to evict, nothing breaks
    EXPECT_THROW((*user)({1, 8}, host.data(), I32(8)), runtime::LaunchError);
}

} // namespace
} // namespace kcache::test
