// Launches the library's saxpy on the host device through the installed kcache::runtime and
// checks every element. Exit status 0 when all are right.
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "runtime/buffer.hpp"
#include "runtime/drivers/host/host_device.hpp"
#include "runtime/runtime.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
    using namespace kcache;
    kernels::register_all();
    kernels::KernelCompiler compiler;
    runtime::Runtime rt(compiler, {std::make_shared<runtime::HostDevice>()});
    runtime::Device& host = rt.device();

    const std::int32_t n = 1000;
    std::vector<float> x(n), y(n);
    for (std::int32_t i = 0; i < n; ++i)
        x[i] = float(i), y[i] = float(n - i);
    runtime::DeviceBuffer<float> dx(host, x), dy(host, y);
    rt.launch(host, Function::named("saxpy"), {(n + 127) / 128, 128}, 2.0f, dx, dy, n);
    const std::vector<float> r = dy.to_vector();
    for (std::int32_t i = 0; i < n; ++i)
        if (r[i] != std::fma(2.0f, x[i], y[i])) {
            std::fprintf(stderr, "saxpy: element %d is %g, not %g\n", i, r[i], 2.0f * x[i] + y[i]);
            return 1;
        }
    std::printf("saxpy on %s: %d elements right\n", host.name().c_str(), n);
    return 0;
}
