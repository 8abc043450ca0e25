// The memory tier: compiled code and action entries held as objects for the life of the
// process, so that identical code is one Artifact object however many kernels compile to it,
// and a compilation whose content key is here ends at the seam. Least recently used entries go
// when the artifacts held pass a byte budget.
#pragma once

#include "store/tier.hpp"

#include <list>
#include <mutex>
#include <unordered_map>

namespace kcache::store {

/// Thread-safety: thread-safe; one mutex (this is the compile path, never a launch or a hit
/// of the kernel compiler's cache).
class MemoryTier final : public Tier {
public:
    /// Holds up to `max_bytes` of artifacts (bytes + PTX) and action entries.
    explicit MemoryTier(std::uint64_t max_bytes);

    std::string_view name() const override { return "memory"; }
    ArtifactPtr get(const ContentKey& key) override;
    ArtifactPtr put(const ContentKey& key, ArtifactPtr artifact) override;
    ActionHit get(const ActionKey& key) override;
    void put(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr& content) override;
    TierStats stats() const override;

    /// Bytes held now.
    std::uint64_t size() const;

private:
    struct DigestHash {
        std::size_t operator()(const Digest& d) const noexcept;
    };
    struct Item {
        Digest digest;
        ArtifactPtr artifact;                      // content entries
        std::shared_ptr<const ActionEntry> action; // action entries
        std::uint64_t bytes = 0;
    };
    using Lru = std::list<Item>; // most recent first

    Item* find(const Digest& d);
    void insert(Item item);
    void trim();

    const std::uint64_t max_bytes_;
    mutable std::mutex mutex_;
    Lru lru_;
    std::unordered_map<Digest, Lru::iterator, DigestHash> index_;
    std::uint64_t size_ = 0;
    TierStats stats_;
};

} // namespace kcache::store
