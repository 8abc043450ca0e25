// kcache::runtime benchmarks.
//   BM_LaunchHit/host     kcache launch of a trivial kernel (fill of one element, one thread)
//                         on the host device: site lookup, world check, hazard, packing, pool,
//                         fiber; /threads:2 from two threads, each filling its own buffer
//                         (aggregate launches per second: 1 / real_time, real_time being the
//                         wall time per launch of both threads together)
//   BM_HandleLaunch/host  the same through a KernelHandle (no site lookup)
//   BM_DeviceLaunch/host  the same module launched through Device::launch (no cache, no table)
//   BM_DirectCall/host    the loaded argument-array entry called directly with a launch context
//   BM_Saxpy/host         saxpy over n floats through kcache (bytes/s: 12 bytes per element)
// GPU (registered when a CUDA device is found, else one entry skipped with the reason):
//   BM_LaunchHit/cuda and BM_HandleLaunch/cuda vs BM_RawLaunch/cuda (cuLaunchKernel of the same
//   function), BM_ColdLoad/cuda
//   (compile + load per kernel), BM_CopyKernel/cuda and BM_Saxpy/cuda vs BM_MemcpyDtoD/cuda.
#include "kernels/library/library.hpp"
#include "runtime/drivers/gpu/gpu_device.hpp"
#include "runtime/drivers/host/host_device.hpp"
#include "runtime/runtime.hpp"
#include "targets/host/host_abi.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <string>

namespace {

using namespace kcache;
using runtime::DeviceBuffer;
using I32 = std::int32_t;

struct HostEnv {
    HostEnv() {
        kernels::register_all();
        dev = std::make_shared<runtime::HostDevice>();
        rt = std::make_unique<runtime::Runtime>(compiler,
                                                std::vector<std::shared_ptr<runtime::Device>>{dev});
    }
    kernels::KernelCompiler compiler{MethodTable::global(), "bench.runtime.host"};
    std::shared_ptr<runtime::HostDevice> dev;
    std::unique_ptr<runtime::Runtime> rt;
};

HostEnv& host_env() {
    static HostEnv env;
    return env;
}

void BM_LaunchHit_host(benchmark::State& state) {
    auto& env = host_env();
    DeviceBuffer<float> out(*env.dev, 16); // one per thread: threads share no written line
    const Function& fill = Function::named("fill");
    env.rt->launch(*env.dev, fill, {1, 1}, out, 1.0f, I32(1)); // warm: compile and load
    for (auto _ : state)
        env.rt->launch(*env.dev, fill, {1, 1}, out, 2.0f, I32(1));
    state.counters["hits"] = double(env.rt->stats().hits);
}
BENCHMARK(BM_LaunchHit_host)->Name("BM_LaunchHit/host");
BENCHMARK(BM_LaunchHit_host)->Name("BM_LaunchHit/host")->Threads(2);

void BM_HandleLaunch_host(benchmark::State& state) {
    auto& env = host_env();
    DeviceBuffer<float> out(*env.dev, 16);
    const auto fill = env.rt->kernel<float*, float, I32>(*env.dev, Function::named("fill"));
    fill({1, 1}, out, 1.0f, I32(1));
    for (auto _ : state)
        fill({1, 1}, out, 2.0f, I32(1));
}
BENCHMARK(BM_HandleLaunch_host)->Name("BM_HandleLaunch/host");
BENCHMARK(BM_HandleLaunch_host)->Name("BM_HandleLaunch/host")->Threads(2);

void BM_DeviceLaunch_host(benchmark::State& state) {
    auto& env = host_env();
    auto art = env.compiler.compile(Function::named("fill"), tt_of<float*, float, I32>(),
                                    env.dev->target());
    auto module = env.dev->load(*art);
    DeviceBuffer<float> out(*env.dev, 1);
    float* p = out.data();
    float v = 2.0f;
    I32 n = 1;
    void* values[] = {&p, &v, &n};
    const runtime::KernelArgs args{values, 3, runtime::detail::layout_of<float*, float, I32>()};
    for (auto _ : state)
        env.dev->launch(*module, {1, 1}, args, {});
}
BENCHMARK(BM_DeviceLaunch_host)->Name("BM_DeviceLaunch/host");

void BM_DirectCall_host(benchmark::State& state) {
    auto& env = host_env();
    auto art = env.compiler.compile(Function::named("fill"), tt_of<float*, float, I32>(),
                                    env.dev->target());
    auto module = env.dev->load(*art);
    // The host module's entry is the argument-array entry (targets/host/host_abi.hpp).
    auto fn = reinterpret_cast<host::ArgsEntryFn>(module->function());
    float out = 0;
    float* p = &out;
    float v = 2.0f;
    I32 n = 1;
    void* values[] = {&p, &v, &n};
    host::LaunchContext ctx{};
    for (int i = 0; i < 3; ++i)
        ctx.grid_dim[i] = ctx.block_dim[i] = 1;
    for (auto _ : state) {
        fn(values, &ctx);
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(BM_DirectCall_host)->Name("BM_DirectCall/host");

void BM_Saxpy_host(benchmark::State& state) {
    auto& env = host_env();
    const auto n = static_cast<std::size_t>(state.range(0));
    DeviceBuffer<float> x(*env.dev, std::vector<float>(n, 1.0f)),
        y(*env.dev, std::vector<float>(n, 2.0f));
    const std::uint32_t block = 256, grid = std::uint32_t((n + block - 1) / block);
    const Function& saxpy = Function::named("saxpy");
    for (auto _ : state)
        env.rt->launch(*env.dev, saxpy, {grid, block}, 0.5f, x, y, I32(n));
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n) * 12);
}
BENCHMARK(BM_Saxpy_host)->Name("BM_Saxpy/host")->Arg(1 << 20)->UseRealTime();

// --- CUDA -----------------------------------------------------------------------------------

struct GpuEnv {
    std::shared_ptr<runtime::Device> dev;
    std::string why;
    std::unique_ptr<kernels::KernelCompiler> compiler;
    std::unique_ptr<runtime::Runtime> rt;
};

GpuEnv& cuda_env() {
    static GpuEnv env = [] {
        GpuEnv e;
        try {
            auto all = runtime::DeviceRegistry::discover(runtime::DeviceKind::cuda()).devices;
            if (all.empty())
                e.why = "no CUDA device present";
            else
                e.dev = all.front();
        } catch (const std::exception& ex) {
            e.why = ex.what();
        }
        if (e.dev) {
            kernels::register_all();
            e.compiler = std::make_unique<kernels::KernelCompiler>(MethodTable::global(),
                                                                   "bench.runtime.cuda");
            e.rt = std::make_unique<runtime::Runtime>(
                *e.compiler, std::vector<std::shared_ptr<runtime::Device>>{e.dev});
        }
        return e;
    }();
    return env;
}

void BM_LaunchHit_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    DeviceBuffer<float> out(*e.dev, 1);
    const Function& fill = Function::named("fill");
    e.rt->launch(*e.dev, fill, {1, 1}, out, 1.0f, I32(1));
    for (auto _ : state)
        e.rt->launch(*e.dev, fill, {1, 1}, out, 2.0f, I32(1));
    e.dev->synchronize();
}

void BM_HandleLaunch_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    DeviceBuffer<float> out(*e.dev, 1);
    const auto fill = e.rt->kernel<float*, float, I32>(*e.dev, Function::named("fill"));
    fill({1, 1}, out, 1.0f, I32(1));
    for (auto _ : state)
        fill({1, 1}, out, 2.0f, I32(1));
    e.dev->synchronize();
}

void BM_RawLaunch_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    auto art =
        e.compiler->compile(Function::named("fill"), tt_of<float*, float, I32>(), e.dev->target());
    auto module = e.dev->load(*art);
    DeviceBuffer<float> out(*e.dev, 1);
    float* p = out.data();
    float v = 2.0f;
    I32 n = 1;
    void* values[] = {&p, &v, &n};
    const auto& api = runtime::detail::cuda_api();
    for (auto _ : state)
        api.launch(module->function(), {1}, {1}, 0, nullptr, values);
    e.dev->synchronize();
}

void BM_ColdLoad_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    int i = 0;
    for (auto _ : state) {
        kernels::KernelCompiler compiler(MethodTable::global(),
                                         "bench.cold." + std::to_string(i++));
        runtime::Runtime rt(compiler, {e.dev});
        DeviceBuffer<float> x(*e.dev, 256), y(*e.dev, 256);
        rt.launch(*e.dev, Function::named("saxpy"), {1, 256}, 1.0f, x, y, I32(256));
        e.dev->synchronize();
    }
}

void BM_CopyKernel_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    const auto n = static_cast<std::size_t>(state.range(0));
    DeviceBuffer<float> a(*e.dev, n), b(*e.dev, n);
    const Function& copy = Function::named("copy");
    for (auto _ : state) {
        e.rt->launch(*e.dev, copy, {std::uint32_t((n + 255) / 256), 256}, b, a, I32(n));
        e.dev->synchronize();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n) * 8);
}

void BM_Saxpy_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    const auto n = static_cast<std::size_t>(state.range(0));
    DeviceBuffer<float> x(*e.dev, n), y(*e.dev, n);
    const Function& saxpy = Function::named("saxpy");
    for (auto _ : state) {
        e.rt->launch(*e.dev, saxpy, {std::uint32_t((n + 255) / 256), 256}, 2.0f, x, y, I32(n));
        e.dev->synchronize();
    }
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n) * 12);
}

void BM_MemcpyDtoD_cuda(benchmark::State& state) {
    auto& e = cuda_env();
    const auto n = static_cast<std::size_t>(state.range(0));
    DeviceBuffer<float> a(*e.dev, n), b(*e.dev, n);
    for (auto _ : state)
        b.copy_from(a); // cuMemcpyDtoDAsync + synchronize
    state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n) * 8);
}

void BM_NoCudaDevice(benchmark::State& state) {
    state.SkipWithError(("CUDA benchmarks skipped: " + cuda_env().why).c_str());
    for (auto _ : state) {
    }
}

[[maybe_unused]] const bool registered = [] {
    if (!cuda_env().dev) {
        benchmark::RegisterBenchmark("BM_LaunchHit/cuda", BM_NoCudaDevice);
        return false;
    }
    benchmark::RegisterBenchmark("BM_LaunchHit/cuda", BM_LaunchHit_cuda);
    benchmark::RegisterBenchmark("BM_HandleLaunch/cuda", BM_HandleLaunch_cuda);
    benchmark::RegisterBenchmark("BM_RawLaunch/cuda", BM_RawLaunch_cuda);
    benchmark::RegisterBenchmark("BM_ColdLoad/cuda", BM_ColdLoad_cuda)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(5);
    for (auto* b : {benchmark::RegisterBenchmark("BM_CopyKernel/cuda", BM_CopyKernel_cuda),
                    benchmark::RegisterBenchmark("BM_Saxpy/cuda", BM_Saxpy_cuda),
                    benchmark::RegisterBenchmark("BM_MemcpyDtoD/cuda", BM_MemcpyDtoD_cuda)})
        b->Arg(1 << 26)->UseRealTime();
    return true;
}();

} // namespace

BENCHMARK_MAIN();
