// The library's kernels compiled for the host and run through the host ABI, against C++
// references: checks that every kernel computes what it says.
#include "host_runner.hpp"

#include "core/type_of.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

namespace kcache::test {
namespace {

using host::LaunchContext;
using kernels::ArtifactPtr;

class LibraryRun : public ::testing::Test {
protected:
    static void SetUpTestSuite() { kernels::register_all(); }
    ArtifactPtr compile(const char* name, Type tt, int opt = 2) {
        return compiler_.compile(Function::named(name), tt, {TargetKind::host(), "", opt});
    }
    kernels::KernelCompiler compiler_{MethodTable::global(), "LibraryRun"};
};

TEST_F(LibraryRun, FillCopyVadd) {
    const int n = 37;
    std::vector<float> a(n), b(n), c(n, -1), d(n + 3, -7);
    for (int i = 0; i < n; ++i)
        a[i] = float(i) * 0.5f, b[i] = float(3 * i);

    auto fill = compile("fill", tt_of<float*, float, std::int32_t>());
    HostModule fm(*fill);
    auto fill_fn = fm.lookup<void (*)(float*, float, int, LaunchContext*)>("fill");
    launch({3}, {16}, 0, [&](LaunchContext* ctx) { fill_fn(d.data(), 2.5f, n, ctx); });
    for (int i = 0; i < n; ++i)
        ASSERT_EQ(d[i], 2.5f) << i;
    EXPECT_EQ(d[n], -7.0f); // threads past n wrote nothing

    auto copy = compile("copy", tt_of<float*, float*, std::int32_t>());
    HostModule cm(*copy);
    auto copy_fn = cm.lookup<void (*)(float*, const float*, int, LaunchContext*)>("copy");
    launch({2}, {32}, 0, [&](LaunchContext* ctx) { copy_fn(c.data(), a.data(), n, ctx); });
    EXPECT_EQ(c, a);

    auto vadd = compile("vadd", tt_of<float*, float*, float*, std::int32_t>());
    HostModule vm(*vadd);
    auto vadd_fn = vm.lookup<void (*)(float*, float*, float*, int, LaunchContext*)>("vadd");
    launch({5}, {8}, 0, [&](LaunchContext* ctx) { vadd_fn(a.data(), b.data(), c.data(), n, ctx); });
    for (int i = 0; i < n; ++i)
        ASSERT_EQ(c[i], a[i] + b[i]) << i;

    auto vadd64 =
        compile("vadd", tt_of<std::int64_t*, std::int64_t*, std::int64_t*, std::int32_t>());
    HostModule v64(*vadd64);
    auto vadd64_fn =
        v64.lookup<void (*)(std::int64_t*, std::int64_t*, std::int64_t*, int, LaunchContext*)>(
            "vadd");
    std::vector<std::int64_t> x(n), y(n), z(n);
    for (int i = 0; i < n; ++i)
        x[i] = std::int64_t(1) << 40, y[i] = -i;
    launch({1}, {64}, 0,
           [&](LaunchContext* ctx) { vadd64_fn(x.data(), y.data(), z.data(), n, ctx); });
    for (int i = 0; i < n; ++i)
        ASSERT_EQ(z[i], (std::int64_t(1) << 40) - i);
}

TEST_F(LibraryRun, SaxpyFloat32Float64Float16) {
    const int n = 50;
    {
        std::vector<float> x(n), y(n), ref(n);
        for (int i = 0; i < n; ++i)
            x[i] = float(i), y[i] = float(n - i), ref[i] = 1.5f * x[i] + y[i];
        auto a = compile("saxpy", tt_of<float, float*, float*, std::int32_t>());
        HostModule m(*a);
        auto fn = m.lookup<void (*)(float, float*, float*, int, LaunchContext*)>("saxpy");
        launch({4}, {16}, 0, [&](LaunchContext* ctx) { fn(1.5f, x.data(), y.data(), n, ctx); });
        for (int i = 0; i < n; ++i)
            ASSERT_FLOAT_EQ(y[i], ref[i]) << i;
    }
    {
        std::vector<double> x(n), y(n), ref(n);
        for (int i = 0; i < n; ++i)
            x[i] = i * 0.25, y[i] = 1.0 / (i + 1), ref[i] = -2.0 * x[i] + y[i];
        auto a = compile("saxpy", tt_of<double, double*, double*, std::int32_t>());
        HostModule m(*a);
        auto fn = m.lookup<void (*)(double, double*, double*, int, LaunchContext*)>("saxpy");
        launch({1}, {64}, 0, [&](LaunchContext* ctx) { fn(-2.0, x.data(), y.data(), n, ctx); });
        for (int i = 0; i < n; ++i)
            ASSERT_DOUBLE_EQ(y[i], ref[i]) << i;
    }
    {
        // Float16 values with exact results: small integers and halves.
        auto h = [](float f) { return static_cast<_Float16>(f); };
        std::vector<_Float16> x(n), y(n);
        for (int i = 0; i < n; ++i)
            x[i] = h(float(i)), y[i] = h(0.5f * float(i));
        auto a = compile("saxpy", Type::tuple({types::Float16(), types::Ptr(types::Float16()),
                                               types::Ptr(types::Float16()), types::Int32()}));
        HostModule m(*a);
        auto fn = m.lookup<void (*)(_Float16, _Float16*, _Float16*, int, LaunchContext*)>("saxpy");
        launch({2}, {32}, 0, [&](LaunchContext* ctx) { fn(h(2.0f), x.data(), y.data(), n, ctx); });
        for (int i = 0; i < n; ++i)
            ASSERT_EQ(float(y[i]), 2.5f * float(i)) << i;
    }
}

TEST_F(LibraryRun, ReduceSum) {
    const int n = 1000;
    std::vector<float> in(n);
    for (int i = 0; i < n; ++i)
        in[i] = float(i % 17);
    const float ref = std::accumulate(in.begin(), in.end(), 0.0f);
    auto a = compile("reduce_sum", tt_of<float*, float*, std::int32_t>());
    EXPECT_EQ(a->static_shared_bytes, 256u * 4);
    HostModule m(*a);
    auto fn = m.lookup<void (*)(const float*, float*, int, LaunchContext*)>("reduce_sum");
    float out = 0;
    launch({3}, {64}, a->static_shared_bytes,
           [&](LaunchContext* ctx) { fn(in.data(), &out, n, ctx); });
    EXPECT_EQ(out, ref);

    std::vector<double> in64(n);
    for (int i = 0; i < n; ++i)
        in64[i] = 0.5 * i;
    auto a64 = compile("reduce_sum", tt_of<double*, double*, std::int32_t>());
    HostModule m64(*a64);
    auto fn64 = m64.lookup<void (*)(const double*, double*, int, LaunchContext*)>("reduce_sum");
    double out64 = 1.0;
    launch({2}, {128}, a64->static_shared_bytes,
           [&](LaunchContext* ctx) { fn64(in64.data(), &out64, n, ctx); });
    EXPECT_EQ(out64, 1.0 + 0.5 * (n - 1) * n / 2);
}

TEST_F(LibraryRun, SoftmaxRows) {
    const int rows = 3, cols = 70;
    std::vector<float> in(rows * cols), out(rows * cols, -1);
    for (int i = 0; i < rows * cols; ++i)
        in[i] = std::sin(float(i)) * 4.0f;
    auto a = compile("softmax_rows", tt_of<float*, float*, std::int32_t, std::int32_t>());
    HostModule m(*a);
    auto fn = m.lookup<void (*)(const float*, float*, int, int, LaunchContext*)>("softmax_rows");
    launch({rows + 1}, {32}, a->static_shared_bytes,
           [&](LaunchContext* ctx) { fn(in.data(), out.data(), rows, cols, ctx); });
    for (int r = 0; r < rows; ++r) {
        float mx = -INFINITY, sum = 0;
        for (int j = 0; j < cols; ++j)
            mx = std::max(mx, in[r * cols + j]);
        for (int j = 0; j < cols; ++j)
            sum += std::exp(in[r * cols + j] - mx);
        for (int j = 0; j < cols; ++j)
            ASSERT_NEAR(out[r * cols + j], std::exp(in[r * cols + j] - mx) / sum, 1e-6f)
                << r << "," << j;
    }
}

TEST_F(LibraryRun, Transpose) {
    const int rows = 20, cols = 35;
    std::vector<float> in(rows * cols), out(rows * cols, -1);
    std::iota(in.begin(), in.end(), 0.0f);
    auto a = compile("transpose", tt_of<float*, float*, std::int32_t, std::int32_t>());
    EXPECT_EQ(a->static_shared_bytes, 16u * 17 * 4);
    HostModule m(*a);
    auto fn = m.lookup<void (*)(const float*, float*, int, int, LaunchContext*)>("transpose");
    launch({(cols + 15) / 16, (rows + 15) / 16}, {16, 16}, a->static_shared_bytes,
           [&](LaunchContext* ctx) { fn(in.data(), out.data(), rows, cols, ctx); });
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            ASSERT_EQ(out[c * rows + r], in[r * cols + c]) << r << "," << c;
}

TEST_F(LibraryRun, MatmulNaiveAndTiled) {
    const int m = 19, n = 23, k = 37;
    std::vector<float> a(m * k), b(k * n), ref(m * n, 0);
    for (int i = 0; i < m * k; ++i)
        a[i] = float((i * 7) % 11) - 5;
    for (int i = 0; i < k * n; ++i)
        b[i] = float((i * 5) % 13) - 6;
    for (int r = 0; r < m; ++r)
        for (int c = 0; c < n; ++c)
            for (int p = 0; p < k; ++p)
                ref[r * n + c] += a[r * k + p] * b[p * n + c];
    using Fn = void (*)(const float*, const float*, float*, int, int, int, LaunchContext*);
    for (const char* name : {"matmul", "matmul_tiled"}) {
        SCOPED_TRACE(name);
        std::vector<float> c(m * n, -1);
        auto art = compile(
            name, tt_of<float*, float*, float*, std::int32_t, std::int32_t, std::int32_t>());
        HostModule mod(*art);
        auto fn = mod.lookup<Fn>(name);
        launch({(n + 15) / 16, (m + 15) / 16}, {16, 16}, art->static_shared_bytes,
               [&](LaunchContext* ctx) { fn(a.data(), b.data(), c.data(), m, n, k, ctx); });
        EXPECT_EQ(c, ref); // small integers: exact in float
    }
}

TEST_F(LibraryRun, IRKernelCallingGenericHelper) {
    const int n = 33;
    std::vector<float> x(n), y(n), ref(n);
    for (int i = 0; i < n; ++i)
        x[i] = float(i), y[i] = float(2 * i + 1), ref[i] = 3.0f * x[i] + 0.5f * y[i];
    auto a = compile("axpby_ir", tt_of<float, float*, float, float*, std::int32_t>(), 0);
    HostModule m(*a);
    auto fn =
        m.lookup<void (*)(float, const float*, float, float*, int, LaunchContext*)>("axpby_ir");
    launch({3}, {16}, 0, [&](LaunchContext* ctx) { fn(3.0f, x.data(), 0.5f, y.data(), n, ctx); });
    EXPECT_EQ(y, ref);
}

} // namespace
} // namespace kcache::test
