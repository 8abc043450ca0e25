// Every kernel of the library launched through the Runtime on the host device, against plain C++
// references, for several types and sizes (including sizes that are no multiple of the block).
#include "test_support.hpp"

#include "kernels/library/library.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace kcache::test {
namespace {

using runtime::DeviceBuffer;
using runtime::Dim3;
using I32 = std::int32_t;

std::uint32_t blocks_for(std::size_t n, std::uint32_t block) {
    return static_cast<std::uint32_t>((n + block - 1) / block);
}

// Runs on the host, and on the first CUDA and HIP device (skipped, saying why, only where there is
// truly no such device; see test_device).
class Library : public ::testing::TestWithParam<runtime::DeviceKind> {
protected:
    static void SetUpTestSuite() { kernels::register_all(); }
    void SetUp() override {
        KCACHE_TEST_DEVICE(d, GetParam());
        rt_ = std::make_unique<runtime::Runtime>(compiler_,
                                                 std::vector<std::shared_ptr<runtime::Device>>{d});
    }
    const Function& fn(const char* name) { return Function::named(name); }
    runtime::Device& dev() { return rt_->device(); }
    kernels::KernelCompiler compiler_{MethodTable::global(), unique("RuntimeLibrary")};
    std::unique_ptr<runtime::Runtime> rt_;
};

TEST_P(Library, CoversEveryKernel) {
    // Keep this list in step with the library: a new kernel must get a test here.
    std::vector<std::string> names;
    for (auto& k : kernels::register_all())
        names.push_back(k.name);
    EXPECT_EQ(names, (std::vector<std::string>{"axpby_ir", "copy", "fill", "matmul", "matmul_tiled",
                                               "reduce_sum", "saxpy", "softmax_rows", "transpose",
                                               "vadd"}));
}

TEST_P(Library, FillCopyVadd) {
    for (std::size_t n : {1u, 37u, 1000u, 4099u})
        for (std::uint32_t block : {1u, 32u, 128u}) {
            SCOPED_TRACE(testing::Message() << "n " << n << " block " << block);
            DeviceBuffer<float> f(dev(), n + 1);
            std::vector<float> sentinel(n + 1, -7.0f);
            f.upload(sentinel);
            rt_->launch(dev(), fn("fill"), {blocks_for(n, block) + 1, block}, f, 2.5f, I32(n));
            auto fv = f.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_EQ(fv[i], 2.5f);
            EXPECT_EQ(fv[n], -7.0f);

            DeviceBuffer<I32> fi(dev(), n);
            rt_->launch(dev(), fn("fill"), {blocks_for(n, block), block}, fi, I32(-3), I32(n));
            EXPECT_EQ(fi.to_vector(), std::vector<I32>(n, -3));

            std::vector<float> a(n), b(n);
            for (std::size_t i = 0; i < n; ++i)
                a[i] = float(i) * 0.5f, b[i] = float(3 * i) - 1;
            DeviceBuffer<float> da(dev(), a), db(dev(), b), dc(dev(), n);
            rt_->launch(dev(), fn("copy"), {blocks_for(n, block), block}, dc, da, I32(n));
            EXPECT_EQ(dc.to_vector(), a);
            rt_->launch(dev(), fn("vadd"), {blocks_for(n, block), block}, da, db, dc, I32(n));
            auto c = dc.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_EQ(c[i], a[i] + b[i]);

            std::vector<std::int64_t> x(n), y(n);
            for (std::size_t i = 0; i < n; ++i)
                x[i] = std::int64_t(1) << 40, y[i] = -std::int64_t(i);
            DeviceBuffer<std::int64_t> dx(dev(), x), dy(dev(), y), dz(dev(), n);
            rt_->launch(dev(), fn("vadd"), {blocks_for(n, block), block}, dx, dy, dz, I32(n));
            auto z = dz.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_EQ(z[i], (std::int64_t(1) << 40) - std::int64_t(i));
        }
}

TEST_P(Library, SaxpyFloat32Float64Float16) {
    for (std::size_t n : {1u, 50u, 3001u}) {
        SCOPED_TRACE(n);
        const std::uint32_t block = 64;
        {
            std::vector<float> x(n), y(n);
            for (std::size_t i = 0; i < n; ++i)
                x[i] = float(i), y[i] = float(n - i);
            DeviceBuffer<float> dx(dev(), x), dy(dev(), y);
            rt_->launch(dev(), fn("saxpy"), {blocks_for(n, block), block}, 1.5f, dx, dy, I32(n));
            auto r = dy.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_FLOAT_EQ(r[i], std::fma(1.5f, x[i], y[i])) << i;
        }
        {
            std::vector<double> x(n), y(n);
            for (std::size_t i = 0; i < n; ++i)
                x[i] = double(i) * 0.25, y[i] = 1.0 / double(i + 1);
            DeviceBuffer<double> dx(dev(), x), dy(dev(), y);
            rt_->launch(dev(), fn("saxpy"), {blocks_for(n, 32), 32}, -2.0, dx, dy, I32(n));
            auto r = dy.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_DOUBLE_EQ(r[i], -2.0 * x[i] + y[i]) << i;
        }
        {
            auto h = [](float f) { return std::bit_cast<float16>(static_cast<_Float16>(f)); };
            std::vector<float16> x(n), y(n);
            for (std::size_t i = 0; i < n; ++i)
                x[i] = h(float(i % 64)), y[i] = h(0.5f * float(i % 64));
            DeviceBuffer<float16> dx(dev(), x), dy(dev(), y);
            rt_->launch(dev(), fn("saxpy"), {blocks_for(n, block), block}, h(2.0f), dx, dy, I32(n));
            auto r = dy.to_vector();
            for (std::size_t i = 0; i < n; ++i)
                ASSERT_EQ(float(std::bit_cast<_Float16>(r[i])), 2.5f * float(i % 64)) << i;
        }
    }
}

TEST_P(Library, AxpbyIR) {
    for (std::size_t n : {1u, 33u, 1025u}) {
        std::vector<float> x(n), y(n);
        for (std::size_t i = 0; i < n; ++i)
            x[i] = float(i), y[i] = float(2 * i + 1);
        DeviceBuffer<float> dx(dev(), x), dy(dev(), y);
        rt_->launch(dev(), fn("axpby_ir"), {blocks_for(n, 16), 16}, 3.0f, dx, 0.5f, dy, I32(n));
        auto r = dy.to_vector();
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_EQ(r[i], 3.0f * x[i] + 0.5f * y[i]) << i;
    }
}

TEST_P(Library, ReduceSum) {
    for (std::size_t n : {1u, 1000u, 65537u})
        for (std::uint32_t block : {1u, 32u, 256u})
            for (std::uint32_t grid : {1u, 3u, 40u}) {
                SCOPED_TRACE(testing::Message() << n << " " << block << " " << grid);
                std::vector<float> in(n);
                for (std::size_t i = 0; i < n; ++i)
                    in[i] = float(i % 17); // sums of small integers: exact in any order
                DeviceBuffer<float> din(dev(), in), out(dev(), std::vector<float>{0.0f});
                rt_->launch(dev(), fn("reduce_sum"), {grid, block}, din, out, I32(n));
                EXPECT_EQ(out.to_vector()[0], std::accumulate(in.begin(), in.end(), 0.0f));

                std::vector<double> in64(n);
                for (std::size_t i = 0; i < n; ++i)
                    in64[i] = 0.5 * double(i);
                DeviceBuffer<double> d64(dev(), in64), o64(dev(), std::vector<double>{1.0});
                rt_->launch(dev(), fn("reduce_sum"), {grid, block}, d64, o64, I32(n));
                EXPECT_EQ(o64.to_vector()[0], 1.0 + 0.5 * double(n - 1) * double(n) / 2);
            }
}

TEST_P(Library, SoftmaxRows) {
    struct Case {
        int rows, cols;
        std::uint32_t block;
    };
    for (Case c : {Case{3, 70, 32}, Case{1, 1, 1}, Case{17, 300, 256}, Case{5, 33, 64}}) {
        SCOPED_TRACE(testing::Message() << c.rows << "x" << c.cols << " block " << c.block);
        std::vector<float> in(std::size_t(c.rows) * c.cols);
        for (std::size_t i = 0; i < in.size(); ++i)
            in[i] = std::sin(float(i)) * 4.0f;
        DeviceBuffer<float> din(dev(), in), dout(dev(), in.size());
        rt_->launch(dev(), fn("softmax_rows"), {std::uint32_t(c.rows + 1), c.block}, din, dout,
                    I32(c.rows), I32(c.cols));
        auto out = dout.to_vector();
        for (int r = 0; r < c.rows; ++r) {
            float mx = -INFINITY, sum = 0;
            for (int j = 0; j < c.cols; ++j)
                mx = std::max(mx, in[r * c.cols + j]);
            for (int j = 0; j < c.cols; ++j)
                sum += std::exp(in[r * c.cols + j] - mx);
            for (int j = 0; j < c.cols; ++j)
                ASSERT_NEAR(out[r * c.cols + j], std::exp(in[r * c.cols + j] - mx) / sum, 1e-5f)
                    << r << "," << j;
        }
    }
}

TEST_P(Library, Transpose) {
    for (auto [rows, cols] : {std::pair{20, 35}, std::pair{64, 48}, std::pair{1, 17}}) {
        SCOPED_TRACE(testing::Message() << rows << "x" << cols);
        std::vector<float> in(std::size_t(rows) * cols);
        std::iota(in.begin(), in.end(), 0.0f);
        DeviceBuffer<float> din(dev(), in), dout(dev(), in.size());
        rt_->launch(dev(), fn("transpose"),
                    {{blocks_for(cols, 16), blocks_for(rows, 16)}, {16, 16}}, din, dout, I32(rows),
                    I32(cols));
        auto out = dout.to_vector();
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c)
                ASSERT_EQ(out[c * rows + r], in[r * cols + c]) << r << "," << c;
        // Int32 elements: another specialisation of the same method.
        std::vector<I32> iin(in.size());
        std::iota(iin.begin(), iin.end(), -5);
        DeviceBuffer<I32> idin(dev(), iin), idout(dev(), iin.size());
        rt_->launch(dev(), fn("transpose"),
                    {{blocks_for(cols, 16), blocks_for(rows, 16)}, {16, 16}}, idin, idout,
                    I32(rows), I32(cols));
        auto iout = idout.to_vector();
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c)
                ASSERT_EQ(iout[c * rows + r], iin[r * cols + c]);
    }
}

template <class T>
void check_matmul(runtime::Runtime& rt, runtime::Device& dev, const char* name, int m, int n, int k,
                  Dim3 block) {
    SCOPED_TRACE(testing::Message() << name << " " << m << "x" << n << "x" << k);
    std::vector<T> a(std::size_t(m) * k), b(std::size_t(k) * n), ref(std::size_t(m) * n, 0);
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i] = T((i * 7) % 11) - 5;
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = T((i * 5) % 13) - 6;
    for (int r = 0; r < m; ++r)
        for (int c = 0; c < n; ++c)
            for (int p = 0; p < k; ++p)
                ref[r * n + c] += a[r * k + p] * b[p * n + c];
    DeviceBuffer<T> da(dev, a), db(dev, b), dc(dev, ref.size());
    rt.launch(dev, Function::named(name), {{blocks_for(n, block.x), blocks_for(m, block.y)}, block},
              da, db, dc, I32(m), I32(n), I32(k));
    EXPECT_EQ(dc.to_vector(), ref); // small integers: exact
}

TEST_P(Library, MatmulNaiveAndTiled) {
    for (auto [m, n, k] : {std::tuple{19, 23, 37}, std::tuple{32, 32, 16}, std::tuple{1, 1, 1},
                           std::tuple{40, 7, 50}}) {
        check_matmul<float>(*rt_, dev(), "matmul", m, n, k, {8, 8});
        check_matmul<double>(*rt_, dev(), "matmul", m, n, k, {16, 4});
        check_matmul<float>(*rt_, dev(), "matmul_tiled", m, n, k, {16, 16});
        check_matmul<double>(*rt_, dev(), "matmul_tiled", m, n, k, {16, 16});
    }
}

INSTANTIATE_TEST_SUITE_P(Devices, Library,
                         ::testing::Values(runtime::DeviceKind::host(), runtime::DeviceKind::cuda(),
                                           runtime::DeviceKind::hip()),
                         [](const auto& info) {
                             return std::string(runtime::to_string(info.param));
                         });

} // namespace
} // namespace kcache::test
