// A redis-server of a test's own, and a raw client to it: Debian's redis-server (installed by
// scripts/setup.sh) on a free loopback port, in a temporary directory, without persistence
// (--save "" --appendonly no). Its log is read from a pipe, so that start() returns when the
// server says it is ready, not after a guessed delay.
#pragma once

#include "store/tiers/redis/redis_connection.hpp"
#include "store_util.hpp"

#include <condition_variable>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>

namespace kcache::test {

/// Thread-safety: one thread drives it.
class TestRedis {
public:
    /// Starts it; throws std::runtime_error with the reason (redis-server missing, not ready
    /// within 20 s) so that the test fails saying why.
    TestRedis();
    ~TestRedis();
    TestRedis(const TestRedis&) = delete;
    TestRedis& operator=(const TestRedis&) = delete;

    int port() const { return port_; }
    store::RedisAddress address() const { return {"127.0.0.1", port_, 0, "", ""}; }
    /// redis://127.0.0.1:<port>
    std::string url() const;

    void kill();   ///< SIGKILL, and reaped
    void start();  ///< again on the same port (empty: nothing was persisted)
    void pause();  ///< SIGSTOP: connections are accepted by the kernel, never answered
    void resume(); ///< SIGCONT

    /// One command through a raw client (not through the tier); throws on failure.
    store::RedisReply command(const store::RedisCommand& command) const;
    /// `cmdstat_<name>:calls=N` from INFO commandstats (0 when the command never ran).
    long long calls(const std::string& name) const;
    /// The keys matching `pattern`.
    std::vector<std::string> keys(const std::string& pattern) const;

    /// A loopback port nothing listens on (bound, read back and closed).
    static int free_port();

private:
    void launch();
    TempDir dir_{"redis"};
    int port_ = 0;
    pid_t pid_ = -1;
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool ready_ = false, exited_ = false;
    std::string log_;
};

} // namespace kcache::test
