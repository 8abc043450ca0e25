#include "runtime/runtime.hpp"

#include "core/log.hpp"
#include "runtime/device_registry.hpp"

namespace kcache::runtime {

namespace detail {
void wrong_device(const Device* buffer_device, const Device& launch_device) {
    throw LaunchError("launch on " + launch_device.name() + " with a buffer of " +
                      (buffer_device ? buffer_device->name() : std::string("no device")));
}
} // namespace detail

namespace {
constexpr std::uint64_t kEvicted = std::uint64_t(1) << 63;
}

struct Runtime::Slot {
    Runtime* runtime = nullptr;
    std::unique_ptr<Module> module;
    kernels::ArtifactPtr artifact;
    /// Launches in flight, plus kEvicted once it left its table. Incremented only under the
    /// table's shared lock while in the table; whoever brings it to exactly kEvicted unloads.
    std::atomic<std::uint64_t> state{0};
    /// Valid code instances bound to this module (guarded by the table's lock): kernels with
    /// identical code share one artifact (store/), so one module.
    std::size_t users = 0;
};

struct Runtime::DeviceState {
    Device* device = nullptr;
    TargetSpec spec;
    mutable std::shared_mutex mutex; // modules and bindings
    /// One loaded module per artifact.
    std::unordered_map<const Artifact*, Slot*> modules;
    /// Each code instance launched here, by the address of its result (stable while its cache
    /// lives), to the module of its artifact. An invalidation unbinds it; the module goes when
    /// its last binding does.
    std::unordered_map<const kernels::ArtifactPtr*, Slot*> bindings;
    std::mutex load_mutex; // one load at a time per device: no artifact loaded twice
};

Runtime::Runtime(kernels::KernelCompiler& compiler) : Runtime(compiler, enumerate_devices()) {}

Runtime::Runtime(kernels::KernelCompiler& compiler, std::vector<std::shared_ptr<Device>> devices)
    : compiler_(compiler), devices_(std::move(devices)) {
    if (devices_.empty())
        throw InvalidArgumentError("Runtime: no devices");
    for (auto& d : devices_) {
        if (!d)
            throw InvalidArgumentError("Runtime: null device");
        auto s = std::make_unique<DeviceState>();
        s->device = d.get();
        s->spec = d->target();
        states_.push_back(std::move(s));
    }
    subscription_ = compiler_.cache().add_invalidation_listener(
        [this](const InvalidationEvent& e) { on_invalidate(e); });
}

Runtime::~Runtime() {
    subscription_.reset(); // no eviction from here on (waits for a listener call in progress)
    for (auto& d : devices_) {
        try {
            d->synchronize(); // every completion has run: no launch in flight
        } catch (const std::exception& e) {
            // A lost GPU context: its modules went with it. A destructor must not throw.
            log().warn("Runtime: synchronising {} at destruction: {}", d->name(), e.what());
        }
    }
    for (auto& s : states_) {
        for (auto& [artifact, slot] : s->modules)
            delete slot; // unloads
        s->modules.clear();
        s->bindings.clear();
    }
}

Device& Runtime::best_device() const {
    for (auto& d : devices_)
        if (d->kind() != DeviceKind::host())
            return *d;
    return *devices_.front();
}

Runtime::DeviceState& Runtime::state_of(const Device& d) const {
    for (auto& s : states_)
        if (s->device == &d) [[likely]]
            return *s;
    throw InvalidArgumentError("Runtime: device " + d.name() + " is not one of this runtime's");
}

void Runtime::launch_packed(Device& d, const Function& f, Type tt, const LaunchConfig& config,
                            const KernelArgs& args) {
    DeviceState& ds = state_of(d);
    if (config.stream && &config.stream->device() != &d) [[unlikely]]
        throw LaunchError("launch on " + d.name() + " with a stream of " +
                          config.stream->device().name());
    Slot* s = acquire(ds, f, tt);
    try {
        d.launch(*s->module, config, args, Completion{&Runtime::release, s});
    } catch (...) {
        release(s); // a launch that throws has not been enqueued
        throw;
    }
}

Runtime::Slot* Runtime::acquire(DeviceState& ds, const Function& f, Type tt) {
    if (const kernels::ArtifactPtr* a = compiler_.cache().lookup(f, tt, ds.spec)) [[likely]] {
        std::shared_lock lock(ds.mutex);
        auto it = ds.bindings.find(a);
        if (it != ds.bindings.end()) [[likely]] {
            it->second->state.fetch_add(1, std::memory_order_relaxed);
            hits_.add();
            return it->second;
        }
    }
    return acquire_slow(ds, f, tt);
}

Runtime::Slot* Runtime::acquire_slow(DeviceState& ds, const Function& f, Type tt) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    auto bound = [&](const kernels::ArtifactPtr* r) -> Slot* {
        std::shared_lock lock(ds.mutex);
        auto it = ds.bindings.find(r);
        if (it == ds.bindings.end())
            return nullptr;
        it->second->state.fetch_add(1, std::memory_order_relaxed);
        return it->second;
    };
    for (;;) {
        // Dispatch and compile (or hit) for the device's target; MethodError when nothing applies.
        compiler_.compile(f, tt, ds.spec);
        const kernels::ArtifactPtr* r = compiler_.cache().lookup(f, tt, ds.spec);
        if (!r)
            continue; // invalidated already: compile the new code
        if (Slot* s = bound(r))
            return s;
        std::lock_guard load_lock(ds.load_mutex);
        if (Slot* s = bound(r))
            return s;
        const kernels::ArtifactPtr a = *r;
        bool loaded;
        {
            std::shared_lock lock(ds.mutex);
            loaded = ds.modules.count(a.get()) != 0;
        }
        std::unique_ptr<Slot> fresh;
        if (!loaded) {
            fresh = std::make_unique<Slot>();
            fresh->runtime = this;
            fresh->module = ds.device->load(*a);
            fresh->artifact = a;
        }
        {
            std::unique_lock lock(ds.mutex);
            // Bind only code that is still valid: an invalidation that ran meanwhile found
            // nothing to unbind, so the check must come after, under the table's lock.
            auto it = ds.modules.find(a.get());
            if (compiler_.cache().lookup(f, tt, ds.spec) == r &&
                (fresh || it != ds.modules.end())) {
                Slot* s = it != ds.modules.end() ? it->second : fresh.get();
                if (fresh) {
                    ds.modules.emplace(a.get(), fresh.release());
                    loads_.fetch_add(1, std::memory_order_relaxed);
                }
                ds.bindings.emplace(r, s);
                ++s->users;
                s->state.fetch_add(1, std::memory_order_relaxed); // this launch
                return s;
            }
        }
        if (fresh)
            stale_.fetch_add(1, std::memory_order_relaxed);
        // fresh (and its module) is destroyed here, outside the lock; go again with new code.
    }
}

void Runtime::release(void* p) noexcept {
    auto* s = static_cast<Slot*>(p);
    const std::uint64_t old = s->state.fetch_sub(1, std::memory_order_acq_rel);
    if (old == (kEvicted | 1)) [[unlikely]]
        s->runtime->unload(s, true);
}

void Runtime::unload(Slot* s, bool deferred) noexcept {
    delete s; // Module's destructor unloads
    evictions_.fetch_add(1, std::memory_order_relaxed);
    if (deferred) {
        deferred_.fetch_add(1, std::memory_order_relaxed);
        pending_.fetch_sub(1, std::memory_order_relaxed);
    }
}

void Runtime::on_invalidate(const InvalidationEvent& event) {
    std::vector<Slot*> now;
    for (auto& ds : states_) {
        std::unique_lock lock(ds->mutex);
        if (ds->bindings.empty())
            continue;
        for (const CodeInstance* ci : event.code_instances) {
            auto it = ds->bindings.find(&kernels::KernelCache::result_of(*ci));
            if (it == ds->bindings.end())
                continue;
            Slot* s = it->second;
            ds->bindings.erase(it);
            if (--s->users > 0)
                continue; // another valid code instance still runs this code
            ds->modules.erase(s->artifact.get());
            // Count it as pending before the flag is set: a completion may unload right after.
            pending_.fetch_add(1, std::memory_order_relaxed);
            const std::uint64_t old = s->state.fetch_or(kEvicted, std::memory_order_acq_rel);
            if (old == 0) {
                pending_.fetch_sub(1, std::memory_order_relaxed);
                now.push_back(s);
            }
        }
    }
    for (Slot* s : now)
        unload(s, false); // outside the locks
}

RuntimeStats Runtime::stats() const {
    RuntimeStats s;
    s.hits = hits_.load();
    s.misses = misses_.load(std::memory_order_relaxed);
    s.loads = loads_.load(std::memory_order_relaxed);
    s.evictions = evictions_.load(std::memory_order_relaxed);
    s.deferred_evictions = deferred_.load(std::memory_order_relaxed);
    s.stale_loads = stale_.load(std::memory_order_relaxed);
    return s;
}

std::size_t Runtime::loaded_modules(const Device& d) const {
    DeviceState& ds = state_of(d);
    std::shared_lock lock(ds.mutex);
    return ds.modules.size();
}

} // namespace kcache::runtime
