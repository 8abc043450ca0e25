#include "testcpu_device.hpp"

#include "runtime/device_registry.hpp"
#include "runtime/drivers/host/block_runner.hpp"
#include "runtime/errors.hpp"
#include "testcpu_target.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace kcache::test {
namespace {

class TestCpuStream final : public runtime::Stream {
public:
    explicit TestCpuStream(runtime::Device& d) : Stream(d) {}
    void synchronize() override {}
};

class TestCpuModule final : public runtime::Module {
public:
    TestCpuModule(runtime::Device& d, std::unique_ptr<HostObject> object, std::string kernel)
        : Module(d, std::move(kernel)), object_(std::move(object)) {
        function_ = reinterpret_cast<void*>(object_->args_entry());
        static_shared_bytes_ = object_->static_shared_bytes();
    }

private:
    std::unique_ptr<HostObject> object_;
};

// Room for the arguments of one launch, as a driver's argument buffer.
constexpr std::size_t kMaxArgs = 64, kArgBytes = 1024;

} // namespace

TestCpuDevice::TestCpuDevice(runtime::DeviceKind kind, int ordinal) : kind_(kind) {
    const TargetKind target = testcpu_target();
    spec_ = target.target().resolve({target, "", 2});
    name_ = "testcpu:" + std::to_string(ordinal) + " (" + spec_.arch + ")";
}

void* TestCpuDevice::allocate(std::size_t bytes) {
    if (bytes == 0)
        return nullptr;
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!p)
        throw runtime::RuntimeError(name_ + ": out of memory");
    return p;
}
void TestCpuDevice::free(void* p) noexcept {
    std::free(p);
}
void TestCpuDevice::copy_to_device(void* dst, const void* src, std::size_t n, runtime::Stream*) {
    if (n)
        std::memcpy(dst, src, n);
}
void TestCpuDevice::copy_to_host(void* dst, const void* src, std::size_t n, runtime::Stream*) {
    if (n)
        std::memcpy(dst, src, n);
}
void TestCpuDevice::copy_on_device(void* dst, const void* src, std::size_t n, runtime::Stream*) {
    if (n)
        std::memmove(dst, src, n);
}
std::unique_ptr<runtime::Stream> TestCpuDevice::create_stream() {
    return std::make_unique<TestCpuStream>(*this);
}

std::unique_ptr<runtime::Module> TestCpuDevice::load(const Artifact& a) {
    const auto formats = spec_.kind.target().artifact_formats();
    if (a.kind != spec_.kind ||
        std::find(formats.begin(), formats.end(), a.format) == formats.end())
        throw runtime::RuntimeError(name_ + ": cannot load a " + std::string(to_string(a.kind)) +
                                    " '" + a.format + "' artifact");
    try {
        return std::make_unique<TestCpuModule>(*this, loader_.load(a), a.kernel_symbol);
    } catch (const HostLoadError& e) {
        throw runtime::RuntimeError(name_ + ": " + e.what());
    }
}

void TestCpuDevice::launch(const runtime::Module& module, const runtime::LaunchConfig& cfg,
                           const runtime::KernelArgs& args, runtime::Completion done) {
    if (&module.device() != this)
        throw runtime::LaunchError(name_ + ": a module of " + module.device().name());
    if (cfg.block.count() == 0 || cfg.block.count() > runtime::kMaxBlockThreads ||
        cfg.grid.count() == 0)
        throw runtime::LaunchError(name_ + ": impossible launch shape");
    if (!args.layout || args.count > kMaxArgs)
        throw runtime::LaunchError(name_ + ": arguments without a layout, or too many");
    // The arguments set one by one, each at its alignment, from the layout alone.
    alignas(16) std::byte buffer[kArgBytes];
    void* values[kMaxArgs];
    std::size_t offset = 0;
    for (std::size_t i = 0; i < args.count; ++i) {
        const runtime::ParamLayout& p = args.layout[i];
        offset = (offset + p.alignment - 1) / p.alignment * p.alignment;
        if (offset + p.size > kArgBytes)
            throw runtime::LaunchError(name_ + ": arguments past the argument buffer");
        std::memcpy(buffer + offset, args.values[i], p.size);
        values[i] = buffer + offset;
        offset += p.size;
    }
    runtime::BlockLaunch blocks;
    blocks.entry = reinterpret_cast<host::ArgsEntryFn>(module.function());
    blocks.args = values;
    blocks.grid = cfg.grid;
    blocks.block = cfg.block;
    blocks.shared_bytes = module.static_shared_bytes() + cfg.shared_bytes;
    blocks.total = cfg.grid.count();
    runtime::run_blocks(blocks);
    launches_.fetch_add(1);
    if (done.fn)
        done.fn(done.data);
}

runtime::DeviceKind testcpu_driver() {
    static const runtime::DeviceKind kind = runtime::DeviceRegistry::add(
        "testcpu", {[] { return 2; },
                    [](runtime::DeviceKind self, int ordinal) -> std::shared_ptr<runtime::Device> {
                        return std::make_shared<TestCpuDevice>(self, ordinal);
                    }});
    return kind;
}

} // namespace kcache::test
