#include "runtime/gpu_device.hpp"

#include "kernels/kernel_compiler.hpp"
#include "runtime/errors.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace kcache::runtime {

struct GpuDevice::Impl {
    const detail::GpuApi& api;
    int ordinal;
    std::string name;
    TargetSpec spec;

    std::mutex mutex; // streams, retired
    std::condition_variable cv;
    std::set<void*> streams; // created by this device and alive
    struct Retired {
        void* module;
        std::vector<void*> events;
    };
    std::deque<Retired> retired;
    bool stop = false;
    std::thread reaper; // unloads retired modules once their events completed

    Impl(const detail::GpuApi& a, int o) : api(a), ordinal(o) {}

    [[noreturn]] void fail(const char* call, int status) const {
        throw RuntimeError(
            std::string(api.driver) + ": " + call + " failed with " + api.error_name(status) +
            " (" + std::to_string(status) + ") on " +
            (name.empty() ? std::string(api.driver) + " device " + std::to_string(ordinal) : name));
    }
    void check(const char* call, int status) const {
        if (status != 0) [[unlikely]]
            fail(call, status);
    }
    void activate() const {
        thread_local const detail::GpuApi* api_current = nullptr;
        thread_local int ordinal_current = -1;
        if (api_current == &api && ordinal_current == ordinal) [[likely]]
            return;
        check("activate (make the device current)", api.activate(ordinal));
        api_current = &api;
        ordinal_current = ordinal;
    }

    void reap() {
        std::unique_lock lock(mutex);
        for (;;) {
            cv.wait(lock, [&] { return stop || !retired.empty(); });
            if (retired.empty() && stop)
                return;
            Retired r = std::move(retired.front());
            retired.pop_front();
            lock.unlock();
            activate();
            for (void* e : r.events) {
                api.event_synchronize(e);
                api.event_destroy(e);
            }
            api.module_unload(r.module); // nothing to report it to
            lock.lock();
        }
    }
};

namespace {

class GpuStream final : public Stream {
public:
    GpuStream(Device& d, GpuDevice::Impl& impl) : Stream(d), impl_(impl) {
        impl_.activate();
        impl_.check("stream_create", impl_.api.stream_create(&handle_));
        std::lock_guard lock(impl_.mutex);
        impl_.streams.insert(handle_);
    }
    ~GpuStream() override {
        {
            std::lock_guard lock(impl_.mutex);
            impl_.streams.erase(handle_);
        }
        impl_.activate();
        impl_.api.stream_destroy(handle_);
    }
    void synchronize() override {
        impl_.activate();
        impl_.check("stream_synchronize", impl_.api.stream_synchronize(handle_));
    }
    void* handle() const { return handle_; }

private:
    GpuDevice::Impl& impl_;
    void* handle_ = nullptr;
};

void* stream_handle(Stream* s) {
    return s ? static_cast<GpuStream*>(s)->handle() : nullptr;
}

class GpuModule final : public Module {
public:
    GpuModule(GpuDevice& d, GpuDevice::Impl& impl, const Artifact& a)
        : Module(d, a.kernel_symbol), impl_(impl) {
        const void* image = nullptr;
        std::string ptx; // NUL-terminated copy
        if (a.format == "cubin" || a.format == "hsaco") {
            image = a.bytes.data();
        } else if (!a.ptx.empty() || a.format == "ptx") {
            ptx = a.ptx.empty() ? std::string(a.bytes.begin(), a.bytes.end()) : a.ptx;
            image = ptx.c_str();
        } else {
            throw RuntimeError(d.name() + ": cannot load a '" + a.format + "' artifact");
        }
        impl_.activate();
        impl_.check("module_load", impl_.api.module_load(&module_, image));
        if (int st = impl_.api.module_function(&function_, module_, a.kernel_symbol.c_str())) {
            impl_.api.module_unload(module_);
            impl_.fail("module_function", st);
        }
        static_shared_bytes_ = a.static_shared_bytes;
    }
    ~GpuModule() override {
        // Stream-ordered unload: after everything enqueued so far on the device's streams.
        GpuDevice::Impl::Retired r{module_, {}};
        std::lock_guard lock(impl_.mutex);
        try {
            impl_.activate();
        } catch (...) {
            // the driver is broken; the reaper still tries to unload
        }
        auto record = [&](void* stream) {
            void* e = nullptr;
            if (impl_.api.event_create(&e) == 0) {
                if (impl_.api.event_record(e, stream) == 0)
                    r.events.push_back(e);
                else
                    impl_.api.event_destroy(e);
            }
        };
        record(nullptr);
        for (void* s : impl_.streams)
            record(s);
        impl_.retired.push_back(std::move(r));
        impl_.cv.notify_one();
    }

private:
    GpuDevice::Impl& impl_;
    void* module_ = nullptr;
};

} // namespace

GpuDevice::GpuDevice(const detail::GpuApi& api, int ordinal, int opt_level)
    : impl_(std::make_unique<Impl>(api, ordinal)) {
    char buf[256] = {};
    impl_->check("device_name", api.device_name(ordinal, buf, sizeof buf));
    std::string dev_name = buf;
    char arch[64] = {};
    impl_->check("arch", api.arch(ordinal, arch, sizeof arch));
    impl_->spec = kernels::KernelCompiler::resolve(
        {api.kind == DeviceKind::Cuda ? TargetKind::Nvptx : TargetKind::Amdgpu, arch, opt_level});
    impl_->name = std::string(to_string(api.kind)) + ":" + std::to_string(ordinal) + " " +
                  dev_name + " (" + impl_->spec.arch + ")";
    impl_->reaper = std::thread([impl = impl_.get()] { impl->reap(); });
}

GpuDevice::~GpuDevice() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    impl_->reaper.join();
}

DeviceKind GpuDevice::kind() const {
    return impl_->api.kind;
}
const std::string& GpuDevice::name() const {
    return impl_->name;
}
const TargetSpec& GpuDevice::target() const {
    return impl_->spec;
}
int GpuDevice::ordinal() const {
    return impl_->ordinal;
}

void* GpuDevice::allocate(std::size_t bytes) {
    if (bytes == 0)
        return nullptr;
    impl_->activate();
    std::uint64_t p = 0;
    impl_->check("mem_alloc", impl_->api.mem_alloc(&p, bytes));
    return reinterpret_cast<void*>(p);
}
void GpuDevice::free(void* p) noexcept {
    if (!p)
        return;
    try {
        impl_->activate();
    } catch (...) {
        return;
    }
    impl_->api.mem_free(reinterpret_cast<std::uint64_t>(p));
}
void GpuDevice::copy_to_device(void* dst, const void* src, std::size_t n, Stream* s) {
    if (!n)
        return;
    impl_->activate();
    void* st = stream_handle(s);
    impl_->check("copy_h2d", impl_->api.copy_h2d(reinterpret_cast<std::uint64_t>(dst), src, n, st));
    impl_->check("stream_synchronize", impl_->api.stream_synchronize(st));
}
void GpuDevice::copy_to_host(void* dst, const void* src, std::size_t n, Stream* s) {
    if (!n)
        return;
    impl_->activate();
    void* st = stream_handle(s);
    impl_->check("copy_d2h", impl_->api.copy_d2h(dst, reinterpret_cast<std::uint64_t>(src), n, st));
    impl_->check("stream_synchronize", impl_->api.stream_synchronize(st));
}
void GpuDevice::copy_on_device(void* dst, const void* src, std::size_t n, Stream* s) {
    if (!n)
        return;
    impl_->activate();
    void* st = stream_handle(s);
    impl_->check("copy_d2d", impl_->api.copy_d2d(reinterpret_cast<std::uint64_t>(dst),
                                                 reinterpret_cast<std::uint64_t>(src), n, st));
    impl_->check("stream_synchronize", impl_->api.stream_synchronize(st));
}
std::unique_ptr<Stream> GpuDevice::create_stream() {
    return std::make_unique<GpuStream>(*this, *impl_);
}
void GpuDevice::synchronize() {
    impl_->activate();
    impl_->check("device_synchronize", impl_->api.device_synchronize());
}
std::unique_ptr<Module> GpuDevice::load(const Artifact& a) {
    const TargetKind want =
        impl_->api.kind == DeviceKind::Cuda ? TargetKind::Nvptx : TargetKind::Amdgpu;
    if (a.kind != want)
        throw RuntimeError(name() + ": cannot load a " + std::string(to_string(a.kind)) +
                           " artifact of '" + a.kernel_symbol + "'");
    return std::make_unique<GpuModule>(*this, *impl_, a);
}
void GpuDevice::launch(const Module& module, const LaunchConfig& cfg, const KernelArgs& args,
                       Completion done) {
    impl_->activate();
    // Static shared memory is part of the module; only the dynamic part is passed.
    impl_->check("launch",
                 impl_->api.launch(module.function(), cfg.grid, cfg.block, cfg.shared_bytes,
                                   stream_handle(cfg.stream), const_cast<void**>(args.values)));
    // Enqueued: the module's unloading is stream-ordered (see ~GpuModule), so the runtime's
    // in-flight count only has to cover the enqueueing itself.
    if (done.fn)
        done.fn(done.data);
}

std::vector<std::shared_ptr<Device>> gpu_devices(DeviceKind kind) {
    const detail::GpuApi& api = kind == DeviceKind::Cuda ? detail::cuda_api() : detail::hip_api();
    int count = 0;
    if (int st = api.device_count(&count))
        throw RuntimeError(std::string(api.driver) + ": device_count failed with " +
                           api.error_name(st));
    std::vector<std::shared_ptr<Device>> out;
    for (int i = 0; i < count; ++i)
        out.push_back(std::make_shared<GpuDevice>(api, i));
    return out;
}

} // namespace kcache::runtime
