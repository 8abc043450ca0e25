#include "runtime/runtime.hpp"

#include "core/hash.hpp"
#include "core/log.hpp"
#include "runtime/device_registry.hpp"

namespace kcache::runtime {

namespace detail {
void wrong_device(const Device* buffer_device, const Device& launch_device) {
    throw LaunchError("launch on " + launch_device.name() + " with a buffer of " +
                      (buffer_device ? buffer_device->name() : std::string("no device")));
}
} // namespace detail

struct Runtime::DeviceState {
    Device* device = nullptr;
    std::shared_ptr<Device> owner;
    TargetSpec spec;
    mutable std::shared_mutex mutex; // modules, bindings, all
    /// One loaded module per artifact.
    std::unordered_map<const Artifact*, LoadedModule*> modules;
    /// Each code instance launched here, by the address of its result (stable while its cache
    /// lives), to the module of its artifact. An invalidation unbinds it; the module goes when
    /// its last binding does.
    std::unordered_map<const kernels::ArtifactPtr*, LoadedModule*> bindings;
    /// Every module published here, evicted ones too: a launch may still read a stale pointer
    /// to one (kernel_site.hpp), so they are freed with the runtime; their modules are unloaded
    /// at eviction.
    std::vector<std::unique_ptr<LoadedModule>> all;
    std::mutex load_mutex; // one load at a time per device: no artifact loaded twice

    std::mutex sites_mutex; // inserts into sites, site_owners
    kcache::detail::PublishedTable<detail::KernelSite> sites;
    std::vector<std::shared_ptr<detail::KernelSite>> site_owners;
};

namespace {

std::size_t site_hash(const Function& f, Type tt) {
    return hash_finalize(hash_combine(f.id() * 0x9E3779B97F4A7C15ULL, tt.hash()));
}

} // namespace

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
        s->owner = d;
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
    // Handles may outlive the runtime: their sites turn into ones whose launches throw.
    for (auto& s : states_) {
        std::lock_guard sites_lock(s->sites_mutex);
        for (auto& site : s->site_owners) {
            std::lock_guard lock(site->mutex);
            site->runtime.store(nullptr, std::memory_order_release);
            site->bound_world.store(0, std::memory_order_release);
            site->module.store(nullptr, std::memory_order_release);
        }
    }
    for (auto& s : states_) {
        s->modules.clear();
        s->bindings.clear();
        s->all.clear(); // unloads, before the devices go
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
    site(state_of(d), f, tt).launch(config, args);
}

detail::KernelSite& Runtime::site(DeviceState& ds, const Function& f, Type tt) {
    const auto equal = [&](const detail::KernelSite& s) { return s.f == &f && s.tt == tt; };
    if (detail::KernelSite* s = ds.sites.find(site_hash(f, tt), equal)) [[likely]]
        return *s;
    return *make_site(ds, f, tt);
}

std::shared_ptr<detail::KernelSite> Runtime::make_site(DeviceState& ds, const Function& f,
                                                       Type tt) {
    // Checks tt (an abstract type is an error here, before anything is recorded).
    kernels::KernelCache::Handle code = compiler_.cache().handle(f, tt, ds.spec);
    const std::size_t h = site_hash(f, tt);
    std::lock_guard lock(ds.sites_mutex);
    if (detail::KernelSite* s =
            ds.sites.find(h, [&](const detail::KernelSite& s) { return s.f == &f && s.tt == tt; }))
        return s->shared_from_this();
    auto s = std::make_shared<detail::KernelSite>(*this, ds.owner, f, tt, code, h);
    ds.site_owners.push_back(s);
    ds.sites.insert(s.get());
    return s;
}

std::shared_ptr<detail::KernelSite> Runtime::resolved_site(Device& d, const Function& f, Type tt) {
    detail::KernelSite& s = site(state_of(d), f, tt);
    detail::HazardCell& cell = detail::this_thread_hazard();
    {
        std::lock_guard lock(s.mutex);
        bind(s, cell, false);
    }
    finish_launch(&cell); // resolved, not launched
    return s.shared_from_this();
}

Runtime::LoadedModule* Runtime::bind(detail::KernelSite& s, detail::HazardCell& cell, bool count) {
    DeviceState& ds = state_of(*s.device);
    bool missed = false; // compiled or loaded
    for (;;) {
        const std::uint64_t world = s.world->load(std::memory_order_acquire);
        if (world == s.bound_world.load(std::memory_order_relaxed)) {
            // Another launch revalidated the site while this one waited for its mutex.
            LoadedModule* m = s.module.load(std::memory_order_relaxed);
            if (!detail::protect(cell, m, m->retired)) {
                if (count)
                    hits_.add();
                return m;
            }
            finish_launch(&cell);
        }
        const kernels::KernelCache::CodeInstanceType* ci = s.code.lookup_code_instance();
        if (!ci) {
            // Never compiled, or invalidated: compile (MethodError when nothing applies).
            missed = true;
            compiler_.compile(*s.f, s.tt, ds.spec);
            continue;
        }
        if (!ci->valid_at(world))
            continue; // committed in a newer world than the one read: bind it with that one
        bool loaded = false;
        LoadedModule* m = module_for(ds, *ci, loaded);
        missed = missed || loaded;
        if (!m)
            continue; // invalidated while loading: compile the new code
        if (detail::protect(cell, m, m->retired)) {
            finish_launch(&cell); // evicted already (the world has moved)
            continue;
        }
        s.module.store(m, std::memory_order_relaxed);
        s.bound_world.store(world, std::memory_order_release);
        if (count) {
            if (missed)
                misses_.fetch_add(1, std::memory_order_relaxed);
            else
                hits_.add();
        }
        return m;
    }
}

Runtime::LoadedModule* Runtime::module_for(DeviceState& ds,
                                           const kernels::KernelCache::CodeInstanceType& ci,
                                           bool& loaded) {
    const kernels::ArtifactPtr* r = &ci.result();
    auto bound = [&]() -> LoadedModule* {
        std::shared_lock lock(ds.mutex);
        auto it = ds.bindings.find(r);
        return it == ds.bindings.end() ? nullptr : it->second;
    };
    if (LoadedModule* m = bound())
        return m;
    std::lock_guard load_lock(ds.load_mutex);
    if (LoadedModule* m = bound())
        return m;
    const kernels::ArtifactPtr a = *r;
    bool present;
    {
        std::shared_lock lock(ds.mutex);
        present = ds.modules.count(a.get()) != 0;
    }
    std::unique_ptr<LoadedModule> fresh;
    if (!present) {
        fresh = std::make_unique<LoadedModule>();
        fresh->runtime = this;
        fresh->module = ds.device->load(*a);
        fresh->artifact = a;
        loaded = true;
    }
    {
        std::unique_lock lock(ds.mutex);
        // Bind only code that is still valid: an invalidation that ran meanwhile found nothing
        // to unbind, so the check must come after, under the table's lock.
        auto it = ds.modules.find(a.get());
        if (ci.max_world() == CodeInstance::kMaxWorld && (fresh || it != ds.modules.end())) {
            LoadedModule* m = it != ds.modules.end() ? it->second : fresh.get();
            if (fresh) {
                ds.all.push_back(std::move(fresh));
                ds.modules.emplace(a.get(), m);
                loads_.fetch_add(1, std::memory_order_relaxed);
            }
            ds.bindings.emplace(r, m);
            ++m->users;
            return m;
        }
    }
    if (fresh)
        stale_.fetch_add(1, std::memory_order_relaxed);
    return nullptr; // fresh (and its module) is destroyed here, outside the lock
}

void Runtime::finish_launch(void* p) noexcept {
    auto& cell = *static_cast<detail::HazardCell*>(p);
    auto* m =
        static_cast<LoadedModule*>(const_cast<void*>(cell.held.load(std::memory_order_relaxed)));
    if (!m)
        return;
    if (detail::release(cell, m->retired)) [[unlikely]]
        m->runtime->unload_unheld(&m, 1, true);
}

void Runtime::unload_unheld(LoadedModule* const* modules, std::size_t count,
                            bool deferred) noexcept {
    if (!detail::synchronize_hazards())
        return; // they stay loaded (and pending) rather than risk unloading one in use
    for (std::size_t i = 0; i < count; ++i) {
        LoadedModule* m = modules[i];
        if (detail::hazard_held(m))
            continue; // its holder unloads it when its launch completes
        if (m->unloaded.exchange(true, std::memory_order_acq_rel))
            continue;
        m->module.reset(); // Module's destructor unloads
        m->artifact.reset();
        evictions_.fetch_add(1, std::memory_order_relaxed);
        if (deferred)
            deferred_.fetch_add(1, std::memory_order_relaxed);
        pending_.fetch_sub(1, std::memory_order_relaxed);
    }
}

void Runtime::on_invalidate(const InvalidationEvent& event) {
    std::vector<LoadedModule*> retired;
    for (auto& ds : states_) {
        std::unique_lock lock(ds->mutex);
        if (ds->bindings.empty())
            continue;
        for (const CodeInstance* ci : event.code_instances) {
            auto it = ds->bindings.find(&kernels::KernelCache::result_of(*ci));
            if (it == ds->bindings.end())
                continue;
            LoadedModule* m = it->second;
            ds->bindings.erase(it);
            if (--m->users > 0)
                continue; // another valid code instance still runs this code
            ds->modules.erase(m->artifact.get());
            // Counted as pending before it is marked: a completion may unload it right after.
            pending_.fetch_add(1, std::memory_order_relaxed);
            m->retired.store(true, std::memory_order_seq_cst);
            retired.push_back(m);
        }
    }
    if (!retired.empty())
        unload_unheld(retired.data(), retired.size(), false); // outside the locks
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
