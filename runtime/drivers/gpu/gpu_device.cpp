#include "runtime/drivers/gpu/gpu_device.hpp"

#include "core/log.hpp"
#include "runtime/errors.hpp"
#include "targets/target.hpp"
#include "targets/target_registry.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <set>
#include <string_view>
#include <thread>

namespace kcache::runtime {

using detail::StatusKind;

namespace {

// Room for the JIT's error and info logs of one module load.
constexpr std::size_t kJitLogBytes = 16 * 1024;

std::string describe(const detail::GpuApi& api, int status) {
    return std::string(api.error_name(status)) + " (" + std::to_string(status) + ": " +
           api.error_string(status) + ")";
}

std::string str(const Dim3& d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

} // namespace

struct GpuDevice::Impl {
    GpuDevice& self;
    const detail::GpuApi& api;
    DeviceKind kind;
    int ordinal;
    std::string name;
    TargetSpec spec;
    detail::DeviceLimits limits;

    // Health: each flag is set once and never cleared.
    std::atomic<bool> lost{false};          // a sticky error corrupted the context
    std::atomic<bool> deinitialized{false}; // the driver is shutting down
    std::once_flag lost_once;
    std::string lost_reason; // written once, before `lost` is set
    std::atomic<bool> cubin_rejection_logged{false};

    mutable std::mutex mutex;                // everything below
    std::condition_variable work_cv;         // the reaper waits for retired modules
    mutable std::condition_variable idle_cv; // wait_for_unloads waits for the reaper
    std::set<void*> streams;                 // created by this device and alive
    std::vector<void*> orphans;  // events of streams destroyed since the last retirement
    bool orphan_unknown = false; // a stream was destroyed with work that no event covers
    struct Retired {
        void* module = nullptr;
        std::vector<void*> events;
        bool synchronize_device = false; // an event is missing: wait for the whole device
    };
    std::deque<Retired> retired;
    bool reaping = false; // the reaper is unloading one right now
    bool stop = false;
    std::uint64_t loads = 0, unloads = 0, abandoned = 0;
    std::thread reaper; // unloads retired modules once their events completed

    Impl(GpuDevice& s, const detail::GpuApi& a, DeviceKind k, int o)
        : self(s), api(a), kind(k), ordinal(o) {}

    std::string where() const {
        return name.empty() ? std::string(api.driver) + " device " + std::to_string(ordinal) : name;
    }

    // --- errors -----------------------------------------------------------------------------

    [[noreturn]] void fail(std::string_view call, int status, std::string_view detail = {}) {
        switch (api.classify(status)) {
        case StatusKind::ContextLost:
            mark_lost(call, status);
            throw DeviceUnusableError(lost_reason);
        case StatusKind::Deinitialized:
            deinitialized.store(true, std::memory_order_release);
            throw RuntimeError(std::string(api.driver) + ": " + std::string(call) + " on " +
                               where() + ": the driver is deinitialised (the process is exiting)");
        default:
            throw RuntimeError(std::string(api.driver) + ": " + std::string(call) +
                               " failed with " + describe(api, status) + " on " + where() +
                               (detail.empty() ? "" : "; " + std::string(detail)));
        }
    }
    void check(std::string_view call, int status) {
        if (status != 0) [[unlikely]]
            fail(call, status);
    }
    [[noreturn]] void throw_lost() const {
        throw DeviceUnusableError(lost_reason.empty() ? where() + " is unusable" : lost_reason);
    }
    void mark_lost(std::string_view call, int status) {
        std::call_once(lost_once, [&] {
            lost_reason =
                std::string(api.driver) + ": " + where() + " is unusable: " + std::string(call) +
                " failed with " + describe(api, status) +
                ", an error that leaves the device's context corrupted (a kernel faulted: an "
                "illegal address or instruction, a trap, a timeout). Every later call on this "
                "device fails with it; restart the process to use the device again.";
            log().error("{}", lost_reason);
        });
        lost.store(true, std::memory_order_release);
    }
    // For paths that must not throw (destructors, the reaper): records what the status means.
    void note(std::string_view call, int status) noexcept {
        const StatusKind kind = api.classify(status);
        try {
            if (kind == StatusKind::ContextLost)
                mark_lost(call, status);
            else if (kind == StatusKind::Deinitialized)
                deinitialized.store(true, std::memory_order_release);
            else
                log().warn("{}: {} failed with {} on {}", api.driver, call, describe(api, status),
                           where());
        } catch (...) {
            if (kind == StatusKind::ContextLost)
                lost.store(true, std::memory_order_release);
        }
    }
    // Whether the driver can still act on this device's handles.
    bool can_clean_up() const noexcept {
        return !lost.load(std::memory_order_acquire) &&
               !deinitialized.load(std::memory_order_acquire);
    }

    // --- modules ------------------------------------------------------------------------------

    void* load_image(const Artifact& a);
    void retire_module(void* module) noexcept;
    bool unload(Retired& r) noexcept;
    void reap() noexcept;

    // --- streams ------------------------------------------------------------------------------

    void destroy_stream(void* stream) noexcept;
    // Under the mutex: drops the events of destroyed streams whose work has finished.
    void prune_orphans() noexcept {
        std::erase_if(orphans, [&](void* e) {
            if (api.event_query(e) != 0)
                return false;
            api.event_destroy(e);
            return true;
        });
    }
};

namespace {

using Impl = GpuDevice::Impl;

// The device current on the calling thread for a scope (GpuApi::enter); what was current before
// is put back when the scope ends.
class Activation {
public:
    /// Throws DeviceUnusableError once the context is lost, RuntimeError when the device cannot
    /// be made current.
    explicit Activation(Impl& impl) : impl_(impl) {
        if (impl.lost.load(std::memory_order_acquire)) [[unlikely]]
            impl.throw_lost();
        if (int st = impl.api.enter(impl.ordinal, &restore_)) [[unlikely]]
            impl.fail("making the device current", st);
        active_ = true;
    }
    /// Never throws; false when the device is not current (a lost context, a deinitialised
    /// driver, or a failure, which is noted).
    Activation(Impl& impl, std::nothrow_t) noexcept : impl_(impl) {
        if (!impl.can_clean_up())
            return;
        if (int st = impl.api.enter(impl.ordinal, &restore_)) {
            impl.note("making the device current", st);
            return;
        }
        active_ = true;
    }
    ~Activation() {
        if (restore_)
            if (int st = impl_.api.leave(restore_))
                impl_.note("putting back the thread's previous context", st);
    }
    Activation(const Activation&) = delete;
    Activation& operator=(const Activation&) = delete;
    explicit operator bool() const { return active_; }

private:
    Impl& impl_;
    void* restore_ = nullptr;
    bool active_ = false;
};

class GpuStream final : public Stream {
public:
    GpuStream(GpuDevice& d, Impl& impl) : Stream(d), impl_(impl) {
        Activation current(impl_);
        impl_.check("stream_create", impl_.api.stream_create(&handle_));
        try {
            std::lock_guard lock(impl_.mutex);
            impl_.streams.insert(handle_);
        } catch (...) {
            impl_.api.stream_destroy(handle_);
            throw;
        }
    }
    ~GpuStream() override { impl_.destroy_stream(handle_); }
    void synchronize() override {
        Activation current(impl_);
        impl_.check("stream_synchronize", impl_.api.stream_synchronize(handle_));
    }
    void* handle() const { return handle_; }

private:
    Impl& impl_;
    void* handle_ = nullptr;
};

// The driver's handle of `s` (nullptr: the default stream). A stream of another device is an
// error: LaunchError for a launch, InvalidArgumentError for a copy.
void* stream_handle(const Impl& impl, Stream* s, bool for_launch) {
    if (!s)
        return nullptr;
    if (&s->device() != &impl.self) [[unlikely]] {
        const std::string msg = impl.where() + ": a stream of " + s->device().name() +
                                " cannot order work on this device";
        if (for_launch)
            throw LaunchError(msg);
        throw InvalidArgumentError(msg);
    }
    // Every stream whose device is this one was made by create_stream: a GpuStream.
    return static_cast<GpuStream*>(s)->handle();
}

class GpuModule final : public Module {
public:
    GpuModule(GpuDevice& d, Impl& impl, const Artifact& a)
        : Module(d, a.kernel_symbol), impl_(impl) {
        Activation current(impl_);
        module_ = impl_.load_image(a);
        try {
            if (int st = impl_.api.module_function(&function_, module_, a.kernel_symbol.c_str()))
                impl_.fail("looking up the kernel '" + a.kernel_symbol + "' in its module", st);
            detail::FunctionLimits f;
            if (int st = impl_.api.function_limits(function_, impl_.ordinal, &f))
                impl_.fail("querying the attributes of '" + a.kernel_symbol + "'", st);
            const detail::DeviceLimits& l = impl_.limits;
            static_shared_bytes_ =
                std::max<std::uint64_t>(a.static_shared_bytes, f.static_shared_bytes);
            const auto room = [&](std::uint32_t limit) -> std::uint32_t {
                return limit > static_shared_bytes_
                           ? static_cast<std::uint32_t>(limit - static_shared_bytes_)
                           : 0;
            };
            kernel_threads_ =
                f.max_threads_per_block ? f.max_threads_per_block : l.max_threads_per_block;
            max_threads_ = std::min(kernel_threads_, l.max_threads_per_block);
            max_dynamic_shared_ = room(std::max(l.shared_per_block_optin, l.shared_per_block));
            dynamic_shared_allowed_.store(
                std::min(f.max_dynamic_shared_bytes, room(l.shared_per_block)),
                std::memory_order_relaxed);
        } catch (...) {
            impl_.api.module_unload(module_); // never launched: nothing to wait for
            throw;
        }
        std::lock_guard lock(impl_.mutex);
        ++impl_.loads;
    }
    ~GpuModule() override { impl_.retire_module(module_); }

    std::uint32_t max_threads() const { return max_threads_; }
    std::uint32_t kernel_threads() const { return kernel_threads_; }
    std::uint32_t max_dynamic_shared() const { return max_dynamic_shared_; }

    // Dynamic shared memory past the default (48 KiB on CUDA) needs the kernel's opt-in, made
    // once for the largest size asked so far. The device is current.
    void allow_dynamic_shared(std::uint32_t bytes) const {
        if (bytes <= dynamic_shared_allowed_.load(std::memory_order_acquire)) [[likely]]
            return;
        std::lock_guard lock(opt_in_mutex_);
        if (bytes <= dynamic_shared_allowed_.load(std::memory_order_relaxed))
            return;
        if (int st = impl_.api.set_dynamic_shared(function_, bytes))
            impl_.fail("allowing '" + kernel_name() + "' " + std::to_string(bytes) +
                           " bytes of dynamic shared memory",
                       st);
        dynamic_shared_allowed_.store(bytes, std::memory_order_release);
    }

private:
    Impl& impl_;
    void* module_ = nullptr;
    std::uint32_t kernel_threads_ = 0;     // the kernel's own limit (register use)
    std::uint32_t max_threads_ = 0;        // min(kernel, device)
    std::uint32_t max_dynamic_shared_ = 0; // with opt-in, after the static shared memory
    mutable std::atomic<std::uint32_t> dynamic_shared_allowed_{0};
    mutable std::mutex opt_in_mutex_;
};

[[noreturn]] void throw_bad_launch(const Impl& impl, const GpuModule& m, const LaunchConfig& c) {
    const Dim3 &g = c.grid, &b = c.block;
    const detail::DeviceLimits& l = impl.limits;
    static constexpr char kAxis[] = {'x', 'y', 'z'};
    const std::uint32_t gd[] = {g.x, g.y, g.z}, bd[] = {b.x, b.y, b.z};
    std::string why;
    if (g.count() == 0 || b.count() == 0)
        why = "an empty grid or block (every dimension must be at least 1)";
    for (int i = 0; i < 3 && why.empty(); ++i)
        if (bd[i] > l.max_block[i])
            why = "block dimension " + std::string(1, kAxis[i]) + " = " + std::to_string(bd[i]) +
                  " exceeds the device's limit of " + std::to_string(l.max_block[i]);
    for (int i = 0; i < 3 && why.empty(); ++i)
        if (gd[i] > l.max_grid[i])
            why = "grid dimension " + std::string(1, kAxis[i]) + " = " + std::to_string(gd[i]) +
                  " exceeds the device's limit of " + std::to_string(l.max_grid[i]);
    if (why.empty() && b.count() > m.max_threads())
        why = std::to_string(b.count()) + " threads per block exceed " +
              (m.kernel_threads() < l.max_threads_per_block
                   ? "the kernel's limit of " + std::to_string(m.kernel_threads()) +
                         " (its register use)"
                   : "the device's limit of " + std::to_string(l.max_threads_per_block));
    if (why.empty())
        why = std::to_string(m.static_shared_bytes()) + " bytes of static and " +
              std::to_string(c.shared_bytes) +
              " of dynamic shared memory exceed the device's limit of " +
              std::to_string(std::max(l.shared_per_block_optin, l.shared_per_block)) +
              " bytes per block";
    throw LaunchError(std::string(impl.api.driver) + ": cannot launch '" + m.kernel_name() +
                      "' on " + impl.where() + " with grid " + str(g) + " and block " + str(b) +
                      ": " + why);
}

// Integer comparisons only; the message is built when one fails.
void validate(const Impl& impl, const GpuModule& m, const LaunchConfig& c) {
    const Dim3 &g = c.grid, &b = c.block;
    const detail::DeviceLimits& l = impl.limits;
    const bool ok = g.x && g.y && g.z && b.x && b.y && b.z && b.x <= l.max_block[0] &&
                    b.y <= l.max_block[1] && b.z <= l.max_block[2] && g.x <= l.max_grid[0] &&
                    g.y <= l.max_grid[1] && g.z <= l.max_grid[2] && b.count() <= m.max_threads() &&
                    c.shared_bytes <= m.max_dynamic_shared();
    if (!ok) [[unlikely]]
        throw_bad_launch(impl, m, c);
}

std::string log_text(const char* buffer) {
    std::string s(buffer);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

} // namespace

void* Impl::load_image(const Artifact& a) {
    std::string ptx; // NUL-terminated, as the driver wants text
    const void* image = nullptr;
    std::string what;
    if (a.format == "cubin" || a.format == "hsaco") {
        image = a.bytes.data();
        what = "the " + a.format;
    } else if (a.format == "ptx" || !a.ptx.empty()) {
        ptx = a.ptx.empty() ? std::string(a.bytes.begin(), a.bytes.end()) : a.ptx;
        image = ptx.c_str();
        what = "the PTX";
    } else {
        throw RuntimeError(where() + ": cannot load a '" + a.format + "' artifact of '" +
                           a.kernel_symbol + "'");
    }
    what += " of '" + a.kernel_symbol + "' (" + a.arch + ")";
    std::string error_log(kJitLogBytes, '\0'), info_log(kJitLogBytes, '\0');
    auto load = [&](const void* img, void** m) {
        std::fill(error_log.begin(), error_log.end(), '\0');
        std::fill(info_log.begin(), info_log.end(), '\0');
        return api.module_load(
            m, img, {error_log.data(), error_log.size() - 1, info_log.data(), info_log.size() - 1});
    };
    auto logs = [&] {
        std::string e = log_text(error_log.data()), i = log_text(info_log.data());
        return (e.empty() ? std::string() : "JIT error log: " + e) +
               (i.empty() ? std::string()
                          : (e.empty() ? "" : "; ") + std::string("JIT info log: ") + i);
    };
    void* m = nullptr;
    const int st = load(image, &m);
    if (st == 0)
        return m;
    const std::string first_logs = logs();
    // A cubin the driver rejects (a driver older than the toolkit's nvJitLink, another GPU):
    // the PTX the artifact keeps can still be JIT-compiled by the driver.
    if (a.format != "cubin" || a.ptx.empty() || api.classify(st) != StatusKind::Error)
        fail("loading " + what, st, first_logs);
    ptx = a.ptx;
    if (int retry = load(ptx.c_str(), &m))
        fail("loading the PTX of '" + a.kernel_symbol + "' (" + a.arch +
                 ") after the driver rejected its cubin with " + describe(api, st) +
                 (first_logs.empty() ? "" : " (" + first_logs + ")"),
             retry, logs());
    if (!cubin_rejection_logged.exchange(true))
        log().warn(
            "{}: {} rejected the cubin of '{}' ({}) with {}{}; loaded its PTX instead, which "
            "the driver compiles (said once per device)",
            api.driver, where(), a.kernel_symbol, a.arch, describe(api, st),
            first_logs.empty() ? "" : " (" + first_logs + ")");
    return m;
}

void Impl::retire_module(void* module) noexcept {
    Retired r;
    r.module = module;
    bool queued = false;
    {
        Activation current(*this, std::nothrow);
        std::lock_guard lock(mutex);
        try {
            if (current) {
                // Stream order: after everything enqueued so far on every stream of the device.
                r.events.reserve(streams.size() + 1 + orphans.size());
                auto record = [&](void* stream) {
                    void* e = nullptr;
                    int st = api.event_create(&e);
                    if (st == 0 && (st = api.event_record(e, stream)) != 0)
                        api.event_destroy(e);
                    if (st != 0) {
                        note("recording an event for a stream-ordered unload", st);
                        r.synchronize_device = true;
                        return;
                    }
                    r.events.push_back(e);
                };
                record(nullptr);
                for (void* s : streams)
                    record(s);
                r.events.insert(r.events.end(), orphans.begin(), orphans.end());
                orphans.clear();
                r.synchronize_device |= std::exchange(orphan_unknown, false);
            }
            retired.push_back(std::move(r));
            queued = true;
        } catch (...) {
            r.synchronize_device = true; // out of memory: unload here, after the whole device
        }
    }
    if (queued) {
        work_cv.notify_one();
        return;
    }
    const bool unloaded = unload(r);
    std::lock_guard lock(mutex);
    ++(unloaded ? unloads : abandoned);
}

bool Impl::unload(Retired& r) noexcept {
    Activation current(*this, std::nothrow);
    if (!current)
        return false;   // a lost context or a deinitialised driver took the module with it
    bool waited = true; // everything enqueued before the retirement is known to have finished
    for (void* e : r.events) {
        if (int st = api.event_synchronize(e)) {
            note("waiting for an event before an unload", st);
            waited = false;
        }
        api.event_destroy(e);
    }
    if (r.synchronize_device || !waited)
        if (int st = api.device_synchronize()) { // an event is missing: wait for everything
            note("synchronising the device before an unload", st);
            return false; // not known to be idle: leave the module loaded rather than risk it
        }
    if (!can_clean_up())
        return false;
    if (int st = api.module_unload(r.module)) {
        note("module_unload", st);
        return false;
    }
    return true;
}

void Impl::reap() noexcept {
    std::unique_lock lock(mutex);
    for (;;) {
        work_cv.wait(lock, [&] { return stop || !retired.empty(); });
        if (retired.empty()) // stopped, and nothing left
            return;
        Retired r = std::move(retired.front());
        retired.pop_front();
        reaping = true;
        lock.unlock();
        const bool unloaded = unload(r);
        lock.lock();
        reaping = false;
        ++(unloaded ? unloads : abandoned);
        if (retired.empty())
            idle_cv.notify_all();
    }
}

void Impl::destroy_stream(void* stream) noexcept {
    Activation current(*this, std::nothrow);
    if (!current) { // the stream went with the context
        std::lock_guard lock(mutex);
        streams.erase(stream);
        return;
    }
    // Work still queued on the stream must hold off later unloads: an event covers it while the
    // stream is still listed, so that no retirement in between misses it.
    void* e = nullptr;
    int st = api.event_create(&e);
    if (st == 0 && (st = api.event_record(e, stream)) != 0)
        api.event_destroy(e);
    bool covered = st == 0;
    if (!covered) {
        note("recording an event on a stream being destroyed", st);
        if (int sync = api.stream_synchronize(stream))
            note("synchronising a stream being destroyed", sync);
        else
            covered = true; // nothing left on it
        e = nullptr;
    }
    {
        std::lock_guard lock(mutex);
        streams.erase(stream);
        if (e) {
            prune_orphans();
            try {
                orphans.push_back(e);
            } catch (...) {
                api.event_synchronize(e); // out of memory: wait here instead
                api.event_destroy(e);
            }
        }
        if (!covered)
            orphan_unknown = true;
    }
    if (int d = api.stream_destroy(stream))
        note("stream_destroy", d);
}

GpuDevice::GpuDevice(const detail::GpuApi& api, DeviceKind kind, int ordinal, int opt_level)
    : impl_(std::make_unique<Impl>(*this, api, kind, ordinal)) {
    Impl& im = *impl_;
    char buf[256] = {};
    im.check("device_name", api.device_name(ordinal, buf, sizeof buf - 1));
    const std::string label =
        std::string(to_string(kind)) + ":" + std::to_string(ordinal) + " " + buf;
    if (api.unusable_reason)
        throw RuntimeError(std::string(api.driver) + ": " + label + ": " + api.unusable_reason);
    char arch[64] = {};
    im.check("arch", api.arch(ordinal, arch, sizeof arch - 1));
    if (!*arch)
        throw RuntimeError(std::string(api.driver) + ": " + label +
                           " reports an empty architecture name: kcache cannot tell which code "
                           "to generate for it");
    try {
        const TargetKind target = TargetKind::named(api.target);
        im.spec = target.target().resolve({target, arch, opt_level});
    } catch (const Error& e) {
        throw RuntimeError(std::string(api.driver) + ": " + label + " (" + arch +
                           ") is not supported by this build: " + e.what());
    }
    im.name = label + " (" + im.spec.arch + ")";
    im.check("device_limits", api.device_limits(ordinal, &im.limits));
    { Activation current(im); } // the context is created now: a failure makes it unusable here
    im.reaper = std::thread([&im] { im.reap(); });
}

GpuDevice::~GpuDevice() {
    Impl& im = *impl_;
    {
        std::lock_guard lock(im.mutex);
        im.stop = true;
    }
    im.work_cv.notify_all();
    im.reaper.join(); // after unloading everything retired
    Activation current(im, std::nothrow);
    if (current)
        for (void* e : im.orphans)
            im.api.event_destroy(e);
}

DeviceKind GpuDevice::kind() const {
    return impl_->kind;
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
    Activation current(*impl_);
    std::uint64_t p = 0;
    if (int st = impl_->api.mem_alloc(&p, bytes))
        impl_->fail("mem_alloc of " + std::to_string(bytes) + " bytes", st);
    return reinterpret_cast<void*>(p);
}
void GpuDevice::free(void* p) noexcept {
    if (!p)
        return;
    Activation current(*impl_, std::nothrow);
    if (!current)
        return; // the memory went with the context
    if (int st = impl_->api.mem_free(reinterpret_cast<std::uint64_t>(p)))
        impl_->note("mem_free", st);
}
void GpuDevice::copy_to_device(void* dst, const void* src, std::size_t n, Stream* s) {
    if (!n)
        return;
    void* st = stream_handle(*impl_, s, false);
    Activation current(*impl_);
    impl_->check("copy_h2d", impl_->api.copy_h2d(reinterpret_cast<std::uint64_t>(dst), src, n, st));
    impl_->check("stream_synchronize", impl_->api.stream_synchronize(st));
}
void GpuDevice::copy_to_host(void* dst, const void* src, std::size_t n, Stream* s) {
    if (!n)
        return;
    void* st = stream_handle(*impl_, s, false);
    Activation current(*impl_);
    impl_->check("copy_d2h", impl_->api.copy_d2h(dst, reinterpret_cast<std::uint64_t>(src), n, st));
    impl_->check("stream_synchronize", impl_->api.stream_synchronize(st));
}
void GpuDevice::copy_on_device(void* dst, const void* src, std::size_t n, Stream* s) {
    if (!n)
        return;
    void* st = stream_handle(*impl_, s, false);
    Activation current(*impl_);
    impl_->check("copy_d2d", impl_->api.copy_d2d(reinterpret_cast<std::uint64_t>(dst),
                                                 reinterpret_cast<std::uint64_t>(src), n, st));
    impl_->check("stream_synchronize", impl_->api.stream_synchronize(st));
}
std::unique_ptr<Stream> GpuDevice::create_stream() {
    return std::make_unique<GpuStream>(*this, *impl_);
}
void GpuDevice::synchronize() {
    Activation current(*impl_);
    impl_->check("device_synchronize", impl_->api.device_synchronize());
}
std::unique_ptr<Module> GpuDevice::load(const Artifact& a) {
    if (a.kind != impl_->spec.kind)
        throw RuntimeError(name() + ": cannot load a " + std::string(to_string(a.kind)) +
                           " artifact of '" + a.kernel_symbol + "'; it needs " +
                           std::string(to_string(impl_->spec.kind)));
    return std::make_unique<GpuModule>(*this, *impl_, a);
}
void GpuDevice::launch(const Module& module, const LaunchConfig& cfg, const KernelArgs& args,
                       Completion done) {
    Impl& im = *impl_;
    if (&module.device() != this) [[unlikely]]
        throw LaunchError(name() + ": cannot launch '" + module.kernel_name() + "', a module of " +
                          module.device().name());
    const auto& m = static_cast<const GpuModule&>(module); // the only kind this device loads
    validate(im, m, cfg);
    void* stream = stream_handle(im, cfg.stream, true);
    Activation current(im);
    m.allow_dynamic_shared(cfg.shared_bytes);
    // Static shared memory is part of the module; only the dynamic part is passed.
    if (int st = im.api.launch(m.function(), cfg.grid, cfg.block, cfg.shared_bytes, stream,
                               const_cast<void**>(args.values))) [[unlikely]]
        im.fail("launching '" + m.kernel_name() + "' with grid " + str(cfg.grid) + " and block " +
                    str(cfg.block),
                st);
    // Enqueued: the module's unloading is stream-ordered (see ~GpuModule), so the caller may let
    // go of it now (Completion).
    if (done.fn)
        done.fn(done.data);
}

std::size_t GpuDevice::loaded_modules() const {
    std::lock_guard lock(impl_->mutex);
    return static_cast<std::size_t>(impl_->loads - impl_->unloads - impl_->abandoned);
}
std::uint64_t GpuDevice::unloaded_modules() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->unloads;
}
void GpuDevice::wait_for_unloads() const {
    std::unique_lock lock(impl_->mutex);
    impl_->idle_cv.wait(lock, [&] { return impl_->retired.empty() && !impl_->reaping; });
}
bool GpuDevice::unusable() const {
    return impl_->lost.load(std::memory_order_acquire);
}

DeviceDriver gpu_device_driver(const detail::GpuApi& (*api)()) {
    DeviceDriver driver;
    driver.count = [api]() -> int {
        const detail::GpuApi& a = api();
        auto failed = [&](const char* call, int st) {
            if (a.classify(st) == StatusKind::NoDevice)
                return true;
            throw RuntimeError(std::string(a.driver) + ": " + call + " failed with " +
                               describe(a, st) + " (driver " + a.library + ")");
        };
        if (int st = a.init(); st && failed("initialising the driver", st))
            return 0;
        int count = 0;
        if (int st = a.device_count(&count); st && failed("counting devices", st))
            return 0;
        return count;
    };
    driver.create = [api](DeviceKind self, int ordinal) -> std::shared_ptr<Device> {
        return std::make_shared<GpuDevice>(api(), self, ordinal);
    };
    return driver;
}

} // namespace kcache::runtime
