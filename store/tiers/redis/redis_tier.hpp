// The Redis tier: a store shared by every machine of a cluster, on one or more Redis servers
// (KCACHE_REDIS; settings in store/config.hpp).
//
//   kcache:v1:cas:<64 hex>   a content entry (compiled code), as the disk tier stores it
//   kcache:v1:ac:<64 hex>    an action entry followed by the content entry it names, so that a
//                            warm start (the action cache's recall) is one round trip
//   kcache:v1:lock:<64 hex>  held while one machine compiles that content key
//
// Values are the store's own entries (store/entry.hpp), checked exactly as the disk tier checks
// its files: seal, then every key field against the key asked for. A bad value is counted
// (corrupt, or rejected when its MAC does not verify), is a miss, and is overwritten by the
// upload of the code this process compiles instead (uploads otherwise never replace content).
// With a MAC key (KCACHE_REDIS_SECRET) every value is sealed with a keyed BLAKE3 and values
// without a valid MAC are rejected: only holders of the secret can put code into this process.
//
// Where a key lives: with several servers, rendezvous hashing on the key's digest
// (store/tiers/redis/rendezvous.hpp); a key's lock lives with its content. A server that is down is
// not replaced by another: its keys are misses until it is back.
//
// Reads are synchronous, one pipelined round trip (GET, and EXPIRE so that an entry lives
// KCACHE_REDIS_TTL after its last use). Writes go to a bounded write-behind queue drained by one
// thread (store/write_behind.hpp): content with SET NX EX (identical bytes under a content key;
// the first stays), action entries with SET EX (the newest build's record replaces an older
// one, as on disk). A full queue drops the upload and counts it. A hit is copied into the faster
// tiers by the Store (read-through: the next process on this machine reads its disk).
//
// Failures never fail a compilation and never wait past the timeouts: a server that cannot be
// reached, times out or answers an error is skipped for a back-off period
// (store/tiers/redis/redis_server.hpp), and every operation on it meanwhile is a miss or a dropped
// upload.
//
// Compile once across machines: lock() takes kcache:v1:lock:<hex> with SET NX PX (the value
// names its owner; it expires after the lock timeout if its holder dies), in a Lua script that
// takes it only while the content entry is absent. A waiter polls, one round trip each time,
// for the lock and for the content entry, backing off from 2 ms to 50 ms,
// until it holds the lock, the entry is there, or the lock timeout passes (then it compiles
// too, counted in lock_timeouts). The holder's release goes through the upload queue behind its
// uploads, so the lock is gone only once the entry is readable; a Lua script deletes it only if the
// holder still owns it.
//
// Thread-safety: thread-safe. Locks must not outlive their tier.
#pragma once

#include "store/config.hpp"
#include "store/tier.hpp"
#include "store/tiers/redis/redis_server.hpp"
#include "store/tiers/redis/rendezvous.hpp"
#include "store/write_behind.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace kcache::store {

class RedisTier final : public Tier {
public:
    /// Connects lazily: constructing never fails and never waits.
    explicit RedisTier(RedisOptions options);
    /// Sends what the upload queue holds (each server within its timeouts) and stops its thread.
    ~RedisTier() override;

    std::string_view name() const override { return "redis"; }
    ArtifactPtr get(const ContentKey& key) override;
    ArtifactPtr put(const ContentKey& key, ArtifactPtr artifact) override;
    ActionHit get(const ActionKey& key) override;
    void put(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr& content) override;
    std::unique_ptr<CompileLock> lock(const ContentKey& key) override;
    TierStats stats() const override;

    const RedisOptions& options() const { return options_; }
    /// Waits until every upload queued before the call has been sent or dropped.
    void flush();

    /// The Redis key of an entry: "kcache:v1:<kind>:<hex>", kind "cas", "ac" or "lock".
    static std::string key_name(std::string_view kind, const Digest& digest);

private:
    struct Upload;
    class Lock;
    struct DigestHash {
        std::size_t operator()(const Digest& d) const noexcept;
    };

    /// GET and EXPIRE of `key` on the server of `digest`: the value, or nullopt (a miss, counted
    /// with the reason when it failed).
    std::optional<RedisReply> fetch(const Digest& digest, const std::string& key);
    /// A value that did not decode: counted, logged once per reason, replaced on upload.
    void bad_value(const Digest& digest, const std::string& key, const std::string& why,
                   bool bad_seal);
    bool take_bad(const Digest& digest);
    bool known_bad(const Digest& digest);
    void upload(Upload u, std::uint64_t bytes);
    void release(std::size_t server, std::string key, std::string owner);
    void drain(std::vector<Upload>& batch);
    void send(std::size_t server, std::vector<Upload*>& uploads);
    void count(RedisServer::Outcome outcome, const std::string& error);
    /// Logs `message` as a warning the first time for its kind, then at debug level.
    void note(std::string_view kind, const std::string& message);

    const RedisOptions options_;
    const Seal seal_;
    const std::string ttl_seconds_;
    const std::string owner_prefix_; // host:pid:random, then a counter per lock
    std::vector<std::unique_ptr<RedisServer>> servers_;
    Rendezvous ring_;
    std::atomic<std::uint64_t> lock_counter_{0};

    std::mutex bad_mutex_;
    std::unordered_set<Digest, DigestHash> bad_; // content keys whose value was bad

    std::mutex noted_mutex_;
    std::set<std::string, std::less<>> noted_; // kinds warned about

    TierCounters counters_;

    // Last: destroyed first, so that its thread drains while everything above still exists.
    std::unique_ptr<WriteBehind<Upload>> queue_;
};

} // namespace kcache::store
