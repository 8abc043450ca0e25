// Invalidation listeners. When a definition invalidates code instances, listeners are told
// which ones, after the world's bookkeeping is done and outside every internal lock, so they may
// do expensive work (the runtime unloads GPU modules here) and may call back into kcache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <vector>

namespace kcache {

class CodeInstance;

struct InvalidationEvent {
    /// The world in which the code instances stopped being valid.
    std::uint64_t world;
    std::span<const CodeInstance* const> code_instances;
};

using InvalidationListener = std::function<void(const InvalidationEvent&)>;

namespace detail {

/// Thread-safety: thread-safe. A listener may run concurrently with itself (two definitions on
/// two threads); once its Subscription is gone it is never called again.
class ListenerList : public std::enable_shared_from_this<ListenerList> {
public:
    struct Slot {
        std::shared_mutex mutex; // held shared while calling, exclusive to remove
        bool removed = false;
        InvalidationListener fn;
    };

    std::shared_ptr<Slot> add(InvalidationListener fn);
    void remove(const std::shared_ptr<Slot>& slot);
    void notify(const InvalidationEvent& event) const;
    bool empty() const;

private:
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<Slot>> slots_;
};

} // namespace detail

/// Keeps a listener subscribed; destroying or resetting it unsubscribes, waiting for a call in
/// progress on another thread to return. A listener must not destroy its own Subscription.
/// Thread-safety: one Subscription must not be used from two threads at once.
class Subscription {
public:
    Subscription() = default;
    Subscription(std::weak_ptr<detail::ListenerList> list,
                 std::shared_ptr<detail::ListenerList::Slot> slot)
        : list_(std::move(list)), slot_(std::move(slot)) {}
    Subscription(Subscription&&) noexcept = default;
    Subscription& operator=(Subscription&& other) noexcept {
        if (this != &other) {
            reset();
            list_ = std::move(other.list_);
            slot_ = std::move(other.slot_);
        }
        return *this;
    }
    ~Subscription() { reset(); }
    void reset();
    explicit operator bool() const { return slot_ != nullptr; }

private:
    std::weak_ptr<detail::ListenerList> list_;
    std::shared_ptr<detail::ListenerList::Slot> slot_;
};

/// Subscribes to every invalidation of every cache.
[[nodiscard]] Subscription add_invalidation_listener(InvalidationListener listener);

} // namespace kcache
