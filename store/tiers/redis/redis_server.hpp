// A Redis server as the Redis tier (store/tiers/redis/redis_tier.hpp) uses it: its address, a few
// idle connections kept for the next operation (a hiredis context is not thread-safe: each
// operation takes one for itself, or makes one), and its health.
//
// A server that fails — it cannot be reached, does not answer within the timeout, or answers
// with an error — is skipped for the back-off period: operations on it return Skipped at once,
// without a connection attempt. The period doubles with each failure in a row (up to a minute,
// or the period itself if longer) and ends with the first success. When it is over, one
// operation tries the server again while the others go on skipping it, so a dead server costs
// one connect timeout per period, not one per compilation. Connection attempts and the timeouts
// that ended a connect or an exchange are counted (counts()).
//
// A Redis Cluster node answers MOVED or ASK for keys it does not own; hiredis 0.14 cannot follow
// that, so it is a failure with a message that says to list the servers instead.
//
// Thread-safety: thread-safe.
#pragma once

#include "store/tiers/redis/redis_connection.hpp"

#include <atomic>
#include <mutex>

namespace kcache::store {

class RedisServer {
public:
    RedisServer(RedisAddress address, RedisLimits limits, std::chrono::milliseconds backoff);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    const RedisAddress& address() const { return address_; }

    enum class Outcome {
        Done,    ///< every command answered, none with an error
        Failed,  ///< the reason is in `error`; the server now backs off
        Skipped, ///< backing off: nothing was sent
    };
    /// Runs `commands` as one pipeline on a connection of its own.
    Outcome run(std::span<const RedisCommand> commands, std::vector<RedisReply>& replies,
                std::string& error);

    /// Not backing off now.
    bool healthy() const { return failures_.load(std::memory_order_relaxed) == 0; }

    /// What run() met on this server so far (statistics, not synchronisation).
    struct Counts {
        std::uint64_t connects = 0;         ///< connections attempted, made or not
        std::uint64_t connect_timeouts = 0; ///< connects that the connect timeout ended
        std::uint64_t timeouts = 0;         ///< exchanges that the operation timeout ended
    };
    Counts counts() const;

private:
    using Clock = std::chrono::steady_clock;
    bool admit();
    void failed(const std::string& why);
    void succeeded();

    const RedisAddress address_;
    const RedisLimits limits_;
    const std::chrono::milliseconds backoff_;

    std::mutex idle_mutex_;
    std::vector<std::unique_ptr<RedisConnection>> idle_;

    std::atomic<std::int64_t> retry_at_{0}; // Clock ticks; meaningful while failures_ > 0
    std::atomic<int> failures_{0};          // in a row

    std::atomic<std::uint64_t> connects_{0}, connect_timeouts_{0}, timeouts_{0};
};

} // namespace kcache::store
