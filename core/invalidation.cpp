#include "core/invalidation.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "core/world_state.hpp"

namespace kcache {

namespace detail {

std::shared_ptr<ListenerList::Slot> ListenerList::add(InvalidationListener fn) {
    auto slot = std::make_shared<Slot>();
    slot->fn = std::move(fn);
    std::lock_guard lock(mutex_);
    slots_.push_back(slot);
    return slot;
}

void ListenerList::remove(const std::shared_ptr<Slot>& slot) {
    {
        std::lock_guard lock(mutex_);
        slots_.erase(std::remove(slots_.begin(), slots_.end(), slot), slots_.end());
    }
    std::unique_lock wait_for_calls(slot->mutex);
    slot->removed = true;
}

void ListenerList::notify(const InvalidationEvent& event) const {
    std::vector<std::shared_ptr<Slot>> snapshot;
    {
        std::lock_guard lock(mutex_);
        snapshot = slots_;
    }
    for (const auto& slot : snapshot) {
        std::shared_lock calling(slot->mutex);
        if (slot->removed)
            continue;
        try {
            slot->fn(event);
        } catch (const std::exception& e) {
            // A listener's failure must not leave other listeners uninformed.
            log().error("invalidation listener threw: {}", e.what());
        } catch (...) {
            log().error("invalidation listener threw a non-standard exception");
        }
    }
}

bool ListenerList::empty() const {
    std::lock_guard lock(mutex_);
    return slots_.empty();
}

} // namespace detail

void Subscription::reset() {
    if (!slot_)
        return;
    if (auto list = list_.lock())
        list->remove(slot_);
    else {
        std::unique_lock wait_for_calls(slot_->mutex);
        slot_->removed = true;
    }
    slot_.reset();
    list_.reset();
}

Subscription add_invalidation_listener(InvalidationListener listener) {
    auto& list = detail::WorldState::instance().global_listeners();
    auto slot = list->add(std::move(listener));
    return Subscription(list, std::move(slot));
}

} // namespace kcache
