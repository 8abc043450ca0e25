#include "runtime/drivers/host/host_device.hpp"

#include "runtime/drivers/host/block_runner.hpp"
#include "runtime/drivers/host/thread_pool.hpp"
#include "runtime/errors.hpp"
#include "targets/host/host_loader.hpp"
#include "targets/target.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace kcache::runtime {
namespace {

class HostStream final : public Stream {
public:
    explicit HostStream(Device& d) : Stream(d) {}
    void synchronize() override {} // host launches and copies complete before returning
};

class HostModule final : public Module {
public:
    HostModule(HostDevice& d, std::unique_ptr<HostObject> object, const std::string& kernel)
        : Module(d, kernel), object_(std::move(object)) {
        function_ = reinterpret_cast<void*>(object_->args_entry());
        static_shared_bytes_ = object_->static_shared_bytes();
    }

private:
    std::unique_ptr<HostObject> object_;
};

// One launch as a job of the pool: every helper runs blocks until none is left.
class LaunchJob final : public detail::ParallelJob {
public:
    BlockLaunch blocks;
    void help() override { run_blocks(blocks); }
    bool unclaimed() const override {
        return blocks.next.load(std::memory_order_relaxed) < blocks.total;
    }
};

std::string str(const Dim3& d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

} // namespace

struct HostDevice::Impl {
    std::string name;
    TargetSpec spec;
    std::vector<std::string> formats; // what load() takes: the host target's artifact formats
    std::unique_ptr<HostLoader> loader;
    std::unique_ptr<detail::ThreadPool> pool;
};

HostDevice::HostDevice(HostDeviceOptions options) : impl_(std::make_unique<Impl>()) {
    try {
        impl_->loader = std::make_unique<HostLoader>();
    } catch (const HostLoadError& e) {
        throw RuntimeError(std::string("host device: ") + e.what());
    }
    const Target& host = TargetKind::host().target();
    impl_->spec = host.resolve({TargetKind::host(), "", options.opt_level});
    impl_->formats = host.artifact_formats();
    unsigned workers = options.workers;
    if (workers == 0) {
        const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
        workers = hw - 1;
    }
    impl_->pool = std::make_unique<detail::ThreadPool>(workers);
    impl_->name = "host (" + impl_->spec.arch + ", " + std::to_string(workers + 1) + " threads)";
}

HostDevice::~HostDevice() = default;

const std::string& HostDevice::name() const {
    return impl_->name;
}
const TargetSpec& HostDevice::target() const {
    return impl_->spec;
}
std::size_t HostDevice::loaded_modules() const {
    return impl_->loader->loaded();
}
unsigned HostDevice::workers() const {
    return impl_->pool->size();
}

void* HostDevice::allocate(std::size_t bytes) {
    if (bytes == 0)
        return nullptr;
    const std::size_t rounded = (bytes + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded);
    if (!p)
        throw RuntimeError("host device: out of memory allocating " + std::to_string(bytes) +
                           " bytes");
    return p;
}
void HostDevice::free(void* p) noexcept {
    std::free(p);
}
void HostDevice::copy_to_device(void* dst, const void* src, std::size_t n, Stream*) {
    if (n)
        std::memcpy(dst, src, n);
}
void HostDevice::copy_to_host(void* dst, const void* src, std::size_t n, Stream*) {
    if (n)
        std::memcpy(dst, src, n);
}
void HostDevice::copy_on_device(void* dst, const void* src, std::size_t n, Stream*) {
    if (n)
        std::memmove(dst, src, n);
}

std::unique_ptr<Stream> HostDevice::create_stream() {
    return std::make_unique<HostStream>(*this);
}

std::unique_ptr<Module> HostDevice::load(const Artifact& a) {
    const auto& formats = impl_->formats;
    if (a.kind != impl_->spec.kind ||
        std::find(formats.begin(), formats.end(), a.format) == formats.end())
        throw RuntimeError("host device: cannot load a " + std::string(to_string(a.kind)) + " '" +
                           a.format + "' artifact of '" + a.kernel_symbol +
                           "'; it needs a host object");
    try {
        return std::make_unique<HostModule>(*this, impl_->loader->load(a), a.kernel_symbol);
    } catch (const HostLoadError& e) {
        throw RuntimeError(std::string("host device: ") + e.what());
    }
}

void HostDevice::launch(const Module& module, const LaunchConfig& cfg, const KernelArgs& args,
                        Completion done) {
    const std::uint64_t threads = cfg.block.count();
    if (threads == 0 || threads > kMaxBlockThreads || cfg.grid.count() == 0)
        throw LaunchError("host device: cannot launch '" + module.kernel_name() + "' with grid " +
                          str(cfg.grid) + " and block " + str(cfg.block) + ": blocks of 1.." +
                          std::to_string(kMaxBlockThreads) + " threads, a non-empty grid");
    if (&module.device() != this)
        throw LaunchError("host device: cannot launch '" + module.kernel_name() +
                          "', a module of " + module.device().name());
    LaunchJob job;
    BlockLaunch& b = job.blocks;
    b.entry = reinterpret_cast<host::ArgsEntryFn>(module.function());
    b.args = args.values;
    b.grid = cfg.grid;
    b.block = cfg.block;
    b.shared_bytes = module.static_shared_bytes() + cfg.shared_bytes;
    b.total = cfg.grid.count();
    impl_->pool->run(job, b.total);
    if (done.fn)
        done.fn(done.data);
}

DeviceDriver host_device_driver() {
    DeviceDriver driver;
    driver.count = [] { return 1; };
    driver.create = [](DeviceKind, int) -> std::shared_ptr<Device> {
        return std::make_shared<HostDevice>();
    };
    return driver;
}

} // namespace kcache::runtime
