// Kernel arguments: the parameter layout derived from a signature, and the layout every launch
// hands its device.
#include "test_support.hpp"

#include "core/errors.hpp"
#include "kernels/errors.hpp"
#include "kernels/library/library.hpp"
#include "runtime/kernel_args.hpp"

#include <gtest/gtest.h>

namespace kcache::test {
namespace {

using runtime::ParamKind;
using runtime::ParamLayout;

TEST(KernelArgs, LayoutFollowsTheLatticeTypes) {
    using namespace types;
    EXPECT_EQ(runtime::param_layout(Bool()), (ParamLayout{1, 1, ParamKind::Integer}));
    EXPECT_EQ(runtime::param_layout(UInt16()), (ParamLayout{2, 2, ParamKind::Integer}));
    EXPECT_EQ(runtime::param_layout(Int32()), (ParamLayout{4, 4, ParamKind::Integer}));
    EXPECT_EQ(runtime::param_layout(Int64()), (ParamLayout{8, 8, ParamKind::Integer}));
    EXPECT_EQ(runtime::param_layout(Float16()), (ParamLayout{2, 2, ParamKind::Float}));
    EXPECT_EQ(runtime::param_layout(BFloat16()), (ParamLayout{2, 2, ParamKind::Float}));
    EXPECT_EQ(runtime::param_layout(Float32()), (ParamLayout{4, 4, ParamKind::Float}));
    EXPECT_EQ(runtime::param_layout(Float64()), (ParamLayout{8, 8, ParamKind::Float}));
    EXPECT_EQ(runtime::param_layout(Ptr(Float64(), AddressSpace::Shared)),
              (ParamLayout{8, 8, ParamKind::Pointer}));
    EXPECT_THROW(runtime::param_layout(AbstractFloat()), kernels::KernelTypeError);
    EXPECT_THROW(runtime::param_layout(Type::tuple({Int32()})), kernels::KernelTypeError);

    const auto layout = runtime::parameter_layout(Type::tuple({Ptr(Float32()), Float64(), Int8()}));
    ASSERT_EQ(layout.size(), 3u);
    EXPECT_EQ(layout[0].kind, ParamKind::Pointer);
    EXPECT_EQ(layout[1].size, 8u);
    EXPECT_EQ(layout[2].alignment, 1u);
    std::array<ParamLayout, 2> too_small{};
    EXPECT_THROW(
        runtime::fill_parameter_layout(Type::tuple({Int32(), Int32(), Int32()}), too_small),
        InvalidArgumentError);
}

TEST(KernelArgs, TheLaunchTemplatesLayoutIsTheSignaturesAndMatchesThePackedValues) {
    const ParamLayout* layout =
        runtime::detail::layout_of<runtime::DeviceBuffer<float>, float, std::int32_t, float16>();
    EXPECT_EQ(layout[0], (ParamLayout{8, 8, ParamKind::Pointer}));
    EXPECT_EQ(layout[1], (ParamLayout{4, 4, ParamKind::Float}));
    EXPECT_EQ(layout[2], (ParamLayout{4, 4, ParamKind::Integer}));
    EXPECT_EQ(layout[3], (ParamLayout{2, 2, ParamKind::Float}));
    // Derived once per argument list.
    EXPECT_EQ(
        layout,
        (runtime::detail::layout_of<runtime::DeviceBuffer<float>, float, std::int32_t, float16>()));
}

// Wraps the host device and records the arguments each launch hands it.
class RecordingDevice final : public runtime::Device {
public:
    explicit RecordingDevice(std::shared_ptr<runtime::Device> inner) : inner_(std::move(inner)) {}
    runtime::DeviceKind kind() const override { return inner_->kind(); }
    const std::string& name() const override { return inner_->name(); }
    const TargetSpec& target() const override { return inner_->target(); }
    void* allocate(std::size_t n) override { return inner_->allocate(n); }
    void free(void* p) noexcept override { inner_->free(p); }
    void copy_to_device(void* d, const void* s, std::size_t n, runtime::Stream* st) override {
        inner_->copy_to_device(d, s, n, st);
    }
    void copy_to_host(void* d, const void* s, std::size_t n, runtime::Stream* st) override {
        inner_->copy_to_host(d, s, n, st);
    }
    void copy_on_device(void* d, const void* s, std::size_t n, runtime::Stream* st) override {
        inner_->copy_on_device(d, s, n, st);
    }
    std::unique_ptr<runtime::Stream> create_stream() override { return inner_->create_stream(); }
    void synchronize() override { inner_->synchronize(); }
    std::unique_ptr<runtime::Module> load(const Artifact& a) override { return inner_->load(a); }
    void launch(const runtime::Module& m, const runtime::LaunchConfig& c,
                const runtime::KernelArgs& args, runtime::Completion done) override {
        count = args.count;
        layout.assign(args.layout, args.layout + args.count);
        inner_->launch(m, c, args, done);
    }

    std::size_t count = 0;
    std::vector<ParamLayout> layout;

private:
    std::shared_ptr<runtime::Device> inner_;
};

TEST(KernelArgs, EveryLaunchHandsTheDeviceTheSignaturesLayout) {
    kernels::register_all();
    kernels::KernelCompiler compiler(MethodTable::global(), unique("kernel_args"));
    auto recording = std::make_shared<RecordingDevice>(host_device());
    runtime::Runtime rt(compiler, {recording});
    runtime::DeviceBuffer<float> out(*recording, 4);
    rt.launch(*recording, Function::named("fill"), {1, 4}, out, 2.5f, std::int32_t(4));
    EXPECT_EQ(out.to_vector(), std::vector<float>(4, 2.5f));
    EXPECT_EQ(recording->count, 3u);
    EXPECT_EQ(recording->layout,
              runtime::parameter_layout(
                  Type::tuple({types::Ptr(types::Float32()), types::Float32(), types::Int32()})));
}

} // namespace
} // namespace kcache::test
