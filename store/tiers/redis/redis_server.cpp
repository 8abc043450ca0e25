#include "store/tiers/redis/redis_server.hpp"

#include "core/log.hpp"

#include <algorithm>

namespace kcache::store {
namespace {

constexpr std::size_t kMaxIdle = 8;
constexpr std::chrono::milliseconds kMaxBackoff{60'000};

bool redirected(std::string_view error) {
    return error.starts_with("MOVED ") || error.starts_with("ASK ");
}

} // namespace

RedisServer::RedisServer(RedisAddress address, RedisLimits limits,
                         std::chrono::milliseconds backoff)
    : address_(std::move(address)), limits_(limits), backoff_(backoff) {}

RedisServer::~RedisServer() = default;

bool RedisServer::admit() {
    if (failures_.load(std::memory_order_acquire) == 0)
        return true;
    const std::int64_t now = Clock::now().time_since_epoch().count();
    std::int64_t at = retry_at_.load(std::memory_order_acquire);
    if (now < at)
        return false;
    // The period is over: the one that moves retry_at on makes the trial, the others skip.
    const auto hold = std::chrono::duration_cast<Clock::duration>(
                          std::max(limits_.connect_timeout + limits_.timeout, backoff_))
                          .count();
    return retry_at_.compare_exchange_strong(at, now + hold, std::memory_order_acq_rel);
}

void RedisServer::failed(const std::string& why) {
    const int n = failures_.fetch_add(1, std::memory_order_acq_rel) + 1;
    const auto cap = std::max(kMaxBackoff, backoff_);
    auto period = backoff_;
    for (int i = 1; i < n && period < cap; ++i)
        period *= 2;
    period = std::min(period, cap);
    retry_at_.store((Clock::now() + period).time_since_epoch().count(), std::memory_order_release);
    if (n == 1)
        log().warn("kcache store: Redis {} failed ({}); skipping it for {} ms, longer while it "
                   "keeps failing",
                   address_.str(), why, period.count());
    else
        log().debug("kcache store: Redis {} failed again ({}); skipping it for {} ms",
                    address_.str(), why, period.count());
}

void RedisServer::succeeded() {
    if (failures_.load(std::memory_order_relaxed) != 0 &&
        failures_.exchange(0, std::memory_order_acq_rel) != 0)
        log().info("kcache store: Redis {} answers again", address_.str());
}

RedisServer::Counts RedisServer::counts() const {
    constexpr auto relaxed = std::memory_order_relaxed;
    return {connects_.load(relaxed), connect_timeouts_.load(relaxed), timeouts_.load(relaxed)};
}

RedisServer::Outcome RedisServer::run(std::span<const RedisCommand> commands,
                                      std::vector<RedisReply>& replies, std::string& error) {
    replies.clear();
    if (!admit())
        return Outcome::Skipped;
    std::unique_ptr<RedisConnection> conn;
    {
        std::lock_guard lock(idle_mutex_);
        if (!idle_.empty()) {
            conn = std::move(idle_.back());
            idle_.pop_back();
        }
    }
    if (!conn) {
        connects_.fetch_add(1, std::memory_order_relaxed);
        RedisTimeout timed_out = RedisTimeout::None;
        conn = RedisConnection::connect(address_, limits_, error, &timed_out);
        if (timed_out != RedisTimeout::None)
            (timed_out == RedisTimeout::Connect ? connect_timeouts_ : timeouts_)
                .fetch_add(1, std::memory_order_relaxed);
    }
    if (!conn || !conn->pipeline(commands, replies, error)) {
        if (conn && conn->timed_out())
            timeouts_.fetch_add(1, std::memory_order_relaxed);
        // A broken connection is dropped, never reconnected
        // (store/tiers/redis/redis_connection.hpp).
        failed(error);
        return Outcome::Failed;
    }
    {
        std::lock_guard lock(idle_mutex_);
        if (idle_.size() < kMaxIdle)
            idle_.push_back(std::move(conn));
    }
    for (const RedisReply& r : replies)
        if (r.type() == RedisReply::Type::Error) {
            const std::string text(r.text().substr(0, 200));
            error = redirected(text)
                        ? "it answered " + text +
                              ": it is a Redis Cluster node, whose redirections hiredis 0.14 "
                              "cannot follow; list the servers in KCACHE_REDIS instead"
                        : "it answered " + text;
            failed(error);
            return Outcome::Failed;
        }
    succeeded();
    return Outcome::Done;
}

} // namespace kcache::store
