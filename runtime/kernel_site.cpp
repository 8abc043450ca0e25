#include "runtime/kernel_site.hpp"

#include "runtime/errors.hpp"
#include "runtime/runtime.hpp"

namespace kcache::runtime::detail {
namespace {

[[noreturn]] void throw_wrong_stream(const KernelSite& site, const Stream& stream) {
    throw LaunchError("launch of " + site.describe() + " with a stream of " +
                      stream.device().name());
}

[[noreturn]] void throw_nested(const KernelSite& site) {
    throw LaunchError("launch of " + site.describe() +
                      " from inside another launch on the same thread (a device's launch or "
                      "completion must not launch)");
}

} // namespace

// The hot path: a world check, the hazard published, the device's launch. No lock, no
// allocation, no formatting unless it throws.
void KernelSite::launch(const LaunchConfig& config, const KernelArgs& args) {
    if (config.stream && &config.stream->device() != device) [[unlikely]]
        throw_wrong_stream(*this, *config.stream);
    HazardCell& cell = this_thread_hazard();
    if (cell.held.load(std::memory_order_relaxed)) [[unlikely]]
        throw_nested(*this);
    LoadedModule* m = nullptr;
    if (world->load(std::memory_order_acquire) == bound_world.load(std::memory_order_acquire))
        [[likely]] {
        m = module.load(std::memory_order_acquire);
        if (protect(cell, m, m->retired)) [[unlikely]] { // evicted since: revalidate
            Runtime::finish_launch(&cell);
            m = nullptr;
        } else {
            m->runtime->hits_.add();
        }
    }
    if (!m) [[unlikely]]
        m = resolve(cell);
    try {
        device->launch(*m->module, config, args, Completion{&Runtime::finish_launch, &cell});
    } catch (...) {
        Runtime::finish_launch(&cell); // not enqueued; clearing twice is harmless
        throw;
    }
}

LoadedModule* KernelSite::resolve(HazardCell& cell) {
    std::lock_guard lock(mutex);
    Runtime* rt = runtime.load(std::memory_order_acquire);
    if (!rt)
        throw LaunchError("launch of " + describe() +
                          " through a kernel handle whose Runtime has been destroyed");
    return rt->bind(*this, cell, true);
}

std::string KernelSite::describe() const {
    return call_str(*f, tt) + " on " + device->name();
}

} // namespace kcache::runtime::detail
