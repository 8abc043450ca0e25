// An insert-only hash table of pointers that readers probe without a lock: the lookup structure
// of a CompilerCache's entries and of a Runtime's launch sites.
//
// Open addressing over a power-of-two array of atomic pointers. Writers, serialised by the
// owner's mutex, fill an empty slot, or copy everything into an array twice as big and publish
// it; readers probing the old array meanwhile miss the new item and take their slow path, which
// finds it under the mutex. Old arrays stay allocated until the table is destroyed (a reader may
// still be probing one), so memory is at most twice the current array. Items are never removed
// and are owned by the caller; each item type T has a `std::size_t hash` member.
//
// Thread-safety: find() from any thread at any time; insert() under the owner's mutex only.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace kcache::detail {

template <class T>
class PublishedTable {
public:
    explicit PublishedTable(std::size_t capacity = 64) { publish(capacity); }
    PublishedTable(const PublishedTable&) = delete;
    PublishedTable& operator=(const PublishedTable&) = delete;

    /// The item with `hash` for which `equal(item)` holds, or nullptr. Lock-free, allocation-free.
    template <class Equal>
    T* find(std::size_t hash, Equal&& equal) const noexcept {
        const Array* a = current_.load(std::memory_order_acquire);
        for (std::size_t i = hash & a->mask;; i = (i + 1) & a->mask) {
            T* item = a->slots[i].load(std::memory_order_acquire);
            if (!item)
                return nullptr;
            if (item->hash == hash && equal(*item))
                return item;
        }
    }

    /// Adds `item` (not already present). Caller holds the owner's mutex.
    void insert(T* item) {
        Array* a = current_.load(std::memory_order_relaxed);
        if ((size_ + 1) * 2 > a->mask + 1) {
            Array& bigger = publish_later((a->mask + 1) * 2);
            for (std::size_t i = 0; i <= a->mask; ++i)
                if (T* old = a->slots[i].load(std::memory_order_relaxed))
                    place(bigger, old, std::memory_order_relaxed);
            current_.store(&bigger, std::memory_order_release);
            a = &bigger;
        }
        place(*a, item, std::memory_order_release);
        ++size_;
    }

    /// Items inserted. Caller holds the owner's mutex.
    std::size_t size() const { return size_; }

private:
    struct Array {
        explicit Array(std::size_t capacity)
            : mask(capacity - 1), slots(new std::atomic<T*>[capacity]) {
            for (std::size_t i = 0; i < capacity; ++i)
                slots[i].store(nullptr, std::memory_order_relaxed);
        }
        std::size_t mask;
        std::unique_ptr<std::atomic<T*>[]> slots;
    };

    static void place(Array& a, T* item, std::memory_order order) {
        std::size_t i = item->hash & a.mask;
        while (a.slots[i].load(std::memory_order_relaxed))
            i = (i + 1) & a.mask;
        a.slots[i].store(item, order);
    }
    Array& publish_later(std::size_t capacity) {
        arrays_.push_back(std::make_unique<Array>(capacity));
        return *arrays_.back();
    }
    void publish(std::size_t capacity) {
        current_.store(&publish_later(capacity), std::memory_order_release);
    }

    std::atomic<Array*> current_{nullptr};
    std::vector<std::unique_ptr<Array>> arrays_; // the current one and the retired ones
    std::size_t size_ = 0;
};

} // namespace kcache::detail
