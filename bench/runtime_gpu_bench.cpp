// kcache::runtime on a CUDA GPU, against the driver used directly (issue 10, section 2). Part of
// kcache_bench_runtime, beside the host benchmarks; the JSON's context names the device, its
// architecture, the driver (CUDA API version and kernel module) and the date.
//
//   BM_CudaLaunch/kcache        Runtime::launch of fill (one thread) whose module is loaded:
//                               host time per launch, measured over batches of kLaunchBatch
//                               enqueued without waiting (far below the driver's queue, so the GPU
//                               never holds the host back), the device synchronised between them
//   BM_CudaLaunch/handle        the same launch through a call-site handle (Runtime::kernel<...>)
//   BM_CudaLaunch/raw           cuLaunchKernel of the same artifact's CUfunction, through kcache's
//                               driver table. The three rows time the three kinds of batch
//                               alternately in every iteration; `vs_raw` is a row's time over
//                               raw's (goal <= 1.05)
//   BM_CudaFirstLaunch/<kernel> each library kernel from nothing in a warm process: compile (a
//                               fresh cache, no store), load (module and function), first launch
//                               until it has run; counters compile_ms, load_ms, launch_ms
//   BM_CudaBandwidth/memcpy     device-to-device cuMemcpy of 1 GiB; bytes read + bytes written
//   BM_CudaBandwidth/<kernel>   copy, saxpy and transpose over 1 GiB arrays, bytes read + written;
//                               batches of the kernel and of the memcpy alternate in every
//                               iteration, and `of_memcpy` is the kernel's bandwidth over the
//                               memcpy's (goal >= 0.90)
//   BM_CudaMatmulTiled/<n>      matmul_tiled of n x n Float32 matrices: FLOP/s (2 n^3 a product)
//
// Times are per launch (a batch's time includes the synchronisation that ends it). Results are
// checked once before timing (inputs are not zeros; sums of small integers are
// exact), and a wrong result ends the benchmark with an error. Without a CUDA device the only
// entry is BM_CudaGpu, skipped with the reason. KCACHE_BENCH_SMOKE=1 shrinks every size and
// skips the checks, so that these code paths run against the fake CUDA driver (tests/bench),
// which launches nothing: its figures mean nothing.
#include "kernels/library/library.hpp"
#include "runtime/device_registry.hpp"
#include "runtime/drivers/gpu/gpu_api.hpp"
#include "runtime/drivers/gpu/gpu_device.hpp"
#include "runtime/runtime.hpp"

#include <benchmark/benchmark.h>

#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace kcache;
using runtime::DeviceBuffer;
using runtime::Dim3;
using runtime::LaunchConfig;
using Clock = std::chrono::steady_clock;
using I32 = std::int32_t;

constexpr int kLaunchBatch = 64;
constexpr int kBandwidthBatch = 10;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::uint32_t blocks_for(std::size_t n, std::uint32_t block) {
    return static_cast<std::uint32_t>((n + block - 1) / block);
}

/// The first CUDA device and what the benchmarks share on it, or why there is none.
struct CudaBench {
    std::shared_ptr<runtime::Device> device;
    std::string why;
    const runtime::detail::GpuApi* api = nullptr;
    int ordinal = 0;
    bool smoke = false;
    std::unique_ptr<kernels::KernelCompiler> compiler;
    std::unique_ptr<runtime::Runtime> rt;

    void check(int status, const char* call) const {
        if (status != 0)
            throw std::runtime_error(std::string(call) + " failed: " + api->error_name(status) +
                                     " (" + api->error_string(status) + ")");
    }
    /// Everything enqueued on the device has run (cuCtxSynchronize).
    void synchronize() const { device->synchronize(); }
    /// cuMemcpyDtoDAsync on the default stream.
    void memcpy_dtod(void* dst, const void* src, std::size_t bytes) const {
        check(api->copy_d2d(reinterpret_cast<std::uint64_t>(dst),
                            reinterpret_cast<std::uint64_t>(src), bytes, nullptr),
              "cuMemcpyDtoDAsync");
    }
};

CudaBench& cuda() {
    static CudaBench b = [] {
        CudaBench e;
        const char* smoke = std::getenv("KCACHE_BENCH_SMOKE");
        e.smoke = smoke && std::string(smoke) == "1";
        try {
            runtime::DeviceDiscovery found =
                runtime::DeviceRegistry::discover(runtime::DeviceKind::cuda());
            if (!found.devices.empty())
                e.device = found.devices.front();
            else if (!found.unusable.empty())
                e.why = "the CUDA device is unusable: " + found.unusable.front().reason;
            else
                e.why = "the CUDA driver reports no device";
        } catch (const std::exception& ex) {
            e.why = ex.what();
        }
        if (!e.device)
            return e;
        try {
            kernels::register_all();
            e.api = &runtime::detail::cuda_api();
            e.ordinal = dynamic_cast<runtime::GpuDevice&>(*e.device).ordinal();
            e.compiler = std::make_unique<kernels::KernelCompiler>(MethodTable::global(),
                                                                   "bench.runtime.cuda.gpu");
            e.rt = std::make_unique<runtime::Runtime>(
                *e.compiler, std::vector<std::shared_ptr<runtime::Device>>{e.device});
            // Warms the process (LLVM's targets, libdevice, nvJitLink, the driver's first
            // module), so that each kernel's first launch pays only for itself.
            DeviceBuffer<float> one(*e.device, 1);
            e.rt->launch(*e.device, Function::named("fill"), {1, 1}, one, 0.0f, I32(1));
            e.device->synchronize();
        } catch (const std::exception& ex) {
            e.why = std::string("the first launch on the CUDA device failed: ") + ex.what();
            e.rt.reset();
            e.compiler.reset();
            e.device.reset();
        }
        return e;
    }();
    return b;
}

/// Ends the benchmark with `what` (a thrown error) instead of letting it escape the library.
template <class Body>
void guarded(benchmark::State& state, Body&& body) {
    try {
        body();
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

/// Floats that are not zeros and whose sums stay exact: small integers and halves.
std::vector<float> pattern(std::size_t n, std::size_t seed) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = float((i * 7 + seed) % 23) * 0.5f - 5.0f;
    return v;
}

// --- launch overhead ------------------------------------------------------------------------

enum class LaunchSide { Kcache, Handle, Raw };

void BM_CudaLaunch(benchmark::State& state, LaunchSide reported) {
    CudaBench& b = cuda();
    guarded(state, [&] {
        runtime::Device& dev = *b.device;
        const Function& fill = Function::named("fill");
        DeviceBuffer<float> out(dev, 1);
        b.rt->launch(dev, fill, {1, 1}, out, 1.0f, I32(1)); // compiled and loaded: hits from here
        // The same artifact the runtime launches, loaded once more for the raw launches.
        auto artifact = b.compiler->compile(fill, tt_of<float*, float, I32>(), dev.target());
        auto module = dev.load(*artifact);
        float* p = out.data();
        float value = 2.0f;
        I32 n = 1;
        void* params[] = {&p, &value, &n};
        void* restore = nullptr; // raw launches need the device's context current here
        b.check(b.api->enter(b.ordinal, &restore), "making the context current");

        auto kcache_batch = [&] {
            for (int i = 0; i < kLaunchBatch; ++i)
                b.rt->launch(dev, fill, {1, 1}, out, value, I32(1));
        };
        const auto fill_site = b.rt->kernel<float*, float, I32>(dev, fill);
        auto handle_batch = [&] {
            for (int i = 0; i < kLaunchBatch; ++i)
                fill_site({1, 1}, out, value, I32(1));
        };
        auto raw_batch = [&] {
            for (int i = 0; i < kLaunchBatch; ++i)
                b.check(b.api->launch(module->function(), Dim3{1}, Dim3{1}, 0, nullptr, params),
                        "cuLaunchKernel");
        };
        auto timed = [&](const auto& batch) {
            const auto t0 = Clock::now();
            batch();
            const double s = seconds_since(t0);
            b.synchronize();
            return s;
        };
        timed(raw_batch); // the raw module's first launch (lazy loading) stays out of the figures
        timed(handle_batch);
        double kcache_s = 0, handle_s = 0, raw_s = 0;
        for (auto _ : state) {
            const double k = timed(kcache_batch);
            const double h = timed(handle_batch);
            const double r = timed(raw_batch);
            kcache_s += k;
            handle_s += h;
            raw_s += r;
            const double mine = reported == LaunchSide::Kcache   ? k
                                : reported == LaunchSide::Handle ? h
                                                                 : r;
            state.SetIterationTime(mine / kLaunchBatch); // the time reported is per launch
        }
        if (restore)
            b.api->leave(restore);
        const double mine = reported == LaunchSide::Kcache   ? kcache_s
                            : reported == LaunchSide::Handle ? handle_s
                                                             : raw_s;
        state.counters["vs_raw"] = raw_s > 0 ? mine / raw_s : 0.0;
    });
}

// --- first launch of each library kernel ----------------------------------------------------

// Every Int32 argument (n, rows, cols, m, n, k) is kDim and every pointer argument a buffer of
// kDim * kDim elements, so that one shape per kernel covers its whole problem (library.hpp's
// launch conventions).
constexpr I32 kDim = 256;
const std::map<std::string, LaunchConfig>& first_launch_shapes() {
    static const std::map<std::string, LaunchConfig> shapes = {
        {"axpby_ir", {1, 256}},
        {"copy", {1, 256}},
        {"fill", {1, 256}},
        {"matmul", {{16, 16}, {16, 16}}},
        {"matmul_tiled", {{16, 16}, {16, 16}}},
        {"reduce_sum", {1, 256}},
        {"saxpy", {1, 256}},
        {"softmax_rows", {kDim, 128}},
        {"transpose", {{16, 16}, {16, 16}}},
        {"vadd", {1, 256}},
    };
    return shapes;
}

/// A kernel's arguments made from its argument types alone (see first_launch_shapes).
struct ArgumentsFor {
    std::vector<DeviceBuffer<std::byte>> buffers;
    std::vector<std::uint64_t> slots; // one per argument, holding its bytes
    std::vector<void*> values;

    ArgumentsFor(runtime::Device& dev, Type tt) {
        const auto types = tt.elements();
        slots.assign(types.size(), 0);
        for (std::size_t i = 0; i < types.size(); ++i) {
            const Type t = types[i];
            void* slot = &slots[i];
            if (t.kind() == TypeKind::Pointer) {
                const std::size_t bytes = std::size_t(kDim) * kDim * t.element().size_bytes();
                // 0x3c bytes: finite, non-zero values of every float width.
                buffers.emplace_back(dev, std::vector<std::byte>(bytes, std::byte{0x3c}));
                void* p = buffers.back().data();
                std::memcpy(slot, &p, sizeof p);
            } else if (t == types::Int32()) {
                std::memcpy(slot, &kDim, sizeof kDim);
            } else if (t == types::Float32()) {
                const float v = 1.5f;
                std::memcpy(slot, &v, sizeof v);
            } else if (t == types::Float64()) {
                const double v = 1.5;
                std::memcpy(slot, &v, sizeof v);
            } else if (t == types::Float16()) {
                const std::uint16_t one_and_a_half = 0x3e00;
                std::memcpy(slot, &one_and_a_half, sizeof one_and_a_half);
            } else {
                throw std::runtime_error("first launch: no argument of type " + t.str());
            }
            values.push_back(slot);
        }
    }
};

void BM_CudaFirstLaunch(benchmark::State& state, const kernels::KernelInfo& info) {
    CudaBench& b = cuda();
    guarded(state, [&] {
        runtime::Device& dev = *b.device;
        auto shape = first_launch_shapes().find(info.name);
        if (shape == first_launch_shapes().end())
            throw std::runtime_error("no launch shape for '" + info.name +
                                     "': add it to first_launch_shapes()");
        const Function& f = Function::named(info.name);
        const Type tt = info.examples.front();
        ArgumentsFor args(dev, tt);
        const runtime::KernelArgs packed{args.values.data(), args.values.size(), nullptr};
        double compile_s = 0, load_s = 0, launch_s = 0;
        int round = 0;
        for (auto _ : state) {
            kernels::KernelCompiler compiler(
                MethodTable::global(), "bench.first." + info.name + "." + std::to_string(round++));
            const auto t0 = Clock::now();
            auto artifact = compiler.compile(f, tt, dev.target());
            const auto t1 = Clock::now();
            auto module = dev.load(*artifact);
            const auto t2 = Clock::now();
            dev.launch(*module, shape->second, packed, {});
            dev.synchronize();
            const auto t3 = Clock::now();
            using S = std::chrono::duration<double>;
            compile_s += S(t1 - t0).count();
            load_s += S(t2 - t1).count();
            launch_s += S(t3 - t2).count();
            state.SetIterationTime(S(t3 - t0).count());
        }
        const double n = double(state.iterations());
        state.counters["compile_ms"] = 1e3 * compile_s / n;
        state.counters["load_ms"] = 1e3 * load_s / n;
        state.counters["launch_ms"] = 1e3 * launch_s / n;
    });
}

// --- bandwidth against a device-to-device memcpy --------------------------------------------

enum class Traffic { Memcpy, Copy, Saxpy, Transpose };

void BM_CudaBandwidth(benchmark::State& state, Traffic what) {
    CudaBench& b = cuda();
    guarded(state, [&] {
        runtime::Device& dev = *b.device;
        // 2^28 floats, 1 GiB an array: far past the L2 (60 MB), and a transpose of 16384^2.
        const std::size_t side = b.smoke ? 64 : 16384;
        const std::size_t n = side * side;
        const std::vector<float> hx = pattern(n, 1), hy = pattern(n, 2);
        DeviceBuffer<float> x(dev, hx), y(dev, hy);
        const I32 count = I32(n), rows = I32(side), cols = I32(side);
        const float a = 0.5f;
        const LaunchConfig linear{blocks_for(n, 256), 256};
        const LaunchConfig tiles{{blocks_for(side, 16), blocks_for(side, 16)}, {16, 16}};
        auto memcpy_once = [&] { b.memcpy_dtod(y.data(), x.data(), x.bytes()); };
        std::function<void()> kernel_once;
        double bytes_per_launch = 2.0 * double(x.bytes()); // read n floats, write n floats
        switch (what) {
        case Traffic::Memcpy:
            kernel_once = memcpy_once;
            break;
        case Traffic::Copy:
            kernel_once = [&, &f = Function::named("copy")] {
                b.rt->launch(dev, f, linear, y, x, count);
            };
            break;
        case Traffic::Saxpy: // y = a x + y: read x and y, write y
            kernel_once = [&, &f = Function::named("saxpy")] {
                b.rt->launch(dev, f, linear, a, x, y, count);
            };
            bytes_per_launch = 3.0 * double(x.bytes());
            break;
        case Traffic::Transpose: // y (cols x rows) = x (rows x cols)^T
            kernel_once = [&, &f = Function::named("transpose")] {
                b.rt->launch(dev, f, tiles, x, y, rows, cols);
            };
            break;
        }

        // One run, checked (compiling and loading the kernel on the way).
        kernel_once();
        b.synchronize();
        if (!b.smoke) {
            const std::vector<float> got = y.to_vector();
            for (std::size_t i = 0; i < n; ++i) {
                float expect = hx[i];
                if (what == Traffic::Saxpy)
                    expect = a * hx[i] + hy[i]; // exact: halves of small integers
                else if (what == Traffic::Transpose)
                    expect = hx[(i % side) * side + i / side];
                if (got[i] != expect)
                    throw std::runtime_error("wrong result at " + std::to_string(i) + ": " +
                                             std::to_string(got[i]) + ", expected " +
                                             std::to_string(expect));
            }
        }

        auto timed_batch = [&](const std::function<void()>& once) {
            const auto t0 = Clock::now();
            for (int i = 0; i < kBandwidthBatch; ++i)
                once();
            b.synchronize();
            return seconds_since(t0);
        };
        double kernel_s = 0, memcpy_s = 0;
        for (auto _ : state) {
            const double k = timed_batch(kernel_once);
            kernel_s += k;
            if (what != Traffic::Memcpy)
                memcpy_s += timed_batch(memcpy_once);
            state.SetIterationTime(k / kBandwidthBatch); // the time reported is per launch
        }
        const double launches = double(state.iterations()) * kBandwidthBatch;
        state.SetBytesProcessed(std::int64_t(double(state.iterations()) * bytes_per_launch));
        if (what != Traffic::Memcpy && kernel_s > 0 && memcpy_s > 0) {
            const double kernel_bw = launches * bytes_per_launch / kernel_s;
            const double memcpy_bw = launches * 2.0 * double(x.bytes()) / memcpy_s;
            state.counters["memcpy_bytes_per_second"] = benchmark::Counter(
                memcpy_bw, benchmark::Counter::kDefaults, benchmark::Counter::OneK::kIs1024);
            state.counters["of_memcpy"] = kernel_bw / memcpy_bw;
        }
    });
}

// --- matmul_tiled ---------------------------------------------------------------------------

void BM_CudaMatmulTiled(benchmark::State& state) {
    CudaBench& b = cuda();
    guarded(state, [&] {
        runtime::Device& dev = *b.device;
        const auto n = static_cast<std::size_t>(state.range(0));
        // Integers in [-5, 5]: every product and sum is exact in Float32 for n <= 4096.
        std::vector<float> ha(n * n), hb(n * n);
        for (std::size_t i = 0; i < n * n; ++i) {
            ha[i] = float((i * 7) % 11) - 5.0f;
            hb[i] = float((i * 5) % 11) - 5.0f;
        }
        DeviceBuffer<float> da(dev, ha), db(dev, hb), dc(dev, n * n);
        const I32 m = I32(n);
        const LaunchConfig tiles{{blocks_for(n, 16), blocks_for(n, 16)}, {16, 16}};
        const Function& matmul = Function::named("matmul_tiled");
        auto once = [&] { b.rt->launch(dev, matmul, tiles, da, db, dc, m, m, m); };
        once();
        b.synchronize();
        if (!b.smoke) {
            const std::vector<float> c = dc.to_vector();
            for (std::size_t s = 0; s < 97; ++s) { // rows and columns spread over the matrix
                const std::size_t r = (s * 7919) % n, col = (s * 104729) % n;
                float expect = 0;
                for (std::size_t p = 0; p < n; ++p)
                    expect += ha[r * n + p] * hb[p * n + col];
                if (c[r * n + col] != expect)
                    throw std::runtime_error("wrong result at (" + std::to_string(r) + ", " +
                                             std::to_string(col) + ")");
            }
        }
        for (auto _ : state) {
            const auto t0 = Clock::now();
            once();
            b.synchronize();
            state.SetIterationTime(seconds_since(t0));
        }
        state.counters["FLOP/s"] = benchmark::Counter(
            2.0 * double(n) * double(n) * double(n), benchmark::Counter::kIsIterationInvariantRate);
    });
}

// --- registration ---------------------------------------------------------------------------

void BM_CudaGpu(benchmark::State& state) {
    state.SkipWithError(("CUDA GPU benchmarks skipped: " + cuda().why).c_str());
    for (auto _ : state) {
    }
}

/// The CUDA API version (cuDriverGetVersion, from the library kcache loaded) and the kernel
/// module's version line, for the JSON's context.
void add_driver_context(const CudaBench& b) {
    std::string api_version = "unknown";
    if (void* lib = dlopen(b.api->library, RTLD_LAZY | RTLD_NOLOAD)) {
        using Fn = int (*)(int*);
        if (auto get = reinterpret_cast<Fn>(dlsym(lib, "cuDriverGetVersion"))) {
            int v = 0;
            if (get(&v) == 0)
                api_version = std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
        }
        dlclose(lib);
    }
    std::string module_version = "unknown";
    if (std::ifstream in("/proc/driver/nvidia/version"); in)
        std::getline(in, module_version);
    benchmark::AddCustomContext("cuda_device", b.device->name());
    benchmark::AddCustomContext("cuda_arch", b.device->target().arch);
    benchmark::AddCustomContext("cuda_driver_api_version", api_version);
    benchmark::AddCustomContext("cuda_driver_library", b.api->library);
    benchmark::AddCustomContext("nvidia_kernel_module", module_version);
    const char* loading = std::getenv("CUDA_MODULE_LOADING");
    benchmark::AddCustomContext("cuda_module_loading", loading ? loading : "(driver default)");
    benchmark::AddCustomContext("kcache_gpu_bench_sizes", b.smoke ? "smoke" : "full");
}

[[maybe_unused]] const bool registered = [] {
    CudaBench& b = cuda();
    if (!b.device) {
        benchmark::RegisterBenchmark("BM_CudaGpu", BM_CudaGpu);
        return false;
    }
    add_driver_context(b);
    benchmark::RegisterBenchmark("BM_CudaLaunch/kcache", BM_CudaLaunch, LaunchSide::Kcache)
        ->UseManualTime();
    benchmark::RegisterBenchmark("BM_CudaLaunch/handle", BM_CudaLaunch, LaunchSide::Handle)
        ->UseManualTime();
    benchmark::RegisterBenchmark("BM_CudaLaunch/raw", BM_CudaLaunch, LaunchSide::Raw)
        ->UseManualTime();
    for (const kernels::KernelInfo& info : kernels::register_all())
        benchmark::RegisterBenchmark(("BM_CudaFirstLaunch/" + info.name).c_str(),
                                     BM_CudaFirstLaunch, info)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->Iterations(b.smoke ? 1 : 10);
    for (auto [name, what] : {std::pair{"memcpy", Traffic::Memcpy},
                              {"copy", Traffic::Copy},
                              {"saxpy", Traffic::Saxpy},
                              {"transpose", Traffic::Transpose}})
        benchmark::RegisterBenchmark((std::string("BM_CudaBandwidth/") + name).c_str(),
                                     BM_CudaBandwidth, what)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    auto* matmul = benchmark::RegisterBenchmark("BM_CudaMatmulTiled", BM_CudaMatmulTiled)
                       ->UseManualTime()
                       ->Unit(benchmark::kMillisecond);
    if (b.smoke)
        matmul->Arg(64);
    else
        matmul->Arg(1024)->Arg(2048)->Arg(4096);
    return true;
}();

} // namespace
