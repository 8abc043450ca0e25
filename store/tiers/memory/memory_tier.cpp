#include "store/tiers/memory/memory_tier.hpp"

#include <cstring>

namespace kcache::store {
namespace {

std::uint64_t size_of(const Artifact& a) {
    return a.bytes.size() + a.ptx.size() + a.notes.size() + sizeof(Artifact);
}

std::uint64_t size_of(const ActionEntry& e) {
    std::uint64_t n = sizeof(ActionEntry) + e.key.function.size() + e.key.arg_types.size();
    for (const auto& d : e.dispatches)
        n += sizeof(d) + d.function.size() + d.arg_types.size() + d.chosen_table.size();
    return n;
}

} // namespace

std::size_t MemoryTier::DigestHash::operator()(const Digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h); // BLAKE3 output: any 8 bytes are uniform
    return h;
}

MemoryTier::MemoryTier(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

MemoryTier::Item* MemoryTier::find(const Digest& d) {
    auto it = index_.find(d);
    if (it == index_.end())
        return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
}

void MemoryTier::insert(Item item) {
    size_ += item.bytes;
    lru_.push_front(std::move(item));
    index_[lru_.front().digest] = lru_.begin();
    trim();
}

void MemoryTier::trim() {
    // The newest entry stays even when it alone is over the budget: it is being used.
    while (size_ > max_bytes_ && lru_.size() > 1) {
        Item& last = lru_.back();
        size_ -= last.bytes;
        index_.erase(last.digest);
        lru_.pop_back();
        ++stats_.evictions;
    }
}

ArtifactPtr MemoryTier::get(const ContentKey& key) {
    const Digest d = key.digest();
    std::lock_guard lock(mutex_);
    Item* item = find(d);
    if (!item || !item->artifact) {
        ++stats_.misses;
        return nullptr;
    }
    ++stats_.hits;
    stats_.bytes_read += item->bytes;
    return item->artifact;
}

ArtifactPtr MemoryTier::put(const ContentKey& key, ArtifactPtr artifact) {
    if (!artifact)
        return artifact;
    const Digest d = key.digest();
    std::lock_guard lock(mutex_);
    if (Item* item = find(d); item && item->artifact)
        return item->artifact;
    const std::uint64_t bytes = size_of(*artifact);
    stats_.bytes_written += bytes;
    insert(Item{d, artifact, nullptr, bytes});
    return artifact;
}

ActionHit MemoryTier::get(const ActionKey& key) {
    const Digest d = key.digest();
    std::lock_guard lock(mutex_);
    Item* item = find(d);
    if (!item || !item->action || !(item->action->key == key)) {
        ++stats_.misses;
        return {};
    }
    ++stats_.hits;
    stats_.bytes_read += item->bytes;
    return {item->action, nullptr};
}

void MemoryTier::put(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr&) {
    if (!entry)
        return;
    const Digest d = entry->key.digest();
    const std::uint64_t bytes = size_of(*entry);
    std::lock_guard lock(mutex_);
    stats_.bytes_written += bytes;
    if (Item* item = find(d); item && item->action) { // a newer build's record replaces it
        size_ = size_ - item->bytes + bytes;
        item->action = entry;
        item->bytes = bytes;
        trim();
        return;
    }
    insert(Item{d, nullptr, entry, bytes});
}

TierStats MemoryTier::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

std::uint64_t MemoryTier::size() const {
    std::lock_guard lock(mutex_);
    return size_;
}

} // namespace kcache::store
