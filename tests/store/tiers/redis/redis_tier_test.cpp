// The Redis tier (issue 8, section 1) against a real redis-server of the test's own: keys, TTLs
// and values as documented; a recall in one round trip; read-through to the disk; uploads that
// never wait and a full queue that drops; a server killed, restarted, paused, absent, or
// answering corrupted, truncated, forged, redirected, oversized or trickling replies — compiles
// go on with right results and nothing waits past the timeouts; the MAC; the cross-machine
// compile lock; rendezvous hashing and the write-behind queue. No test reads a clock: what
// happened (a timeout fired, a server was skipped without a connection attempt, a waiter gave
// up) is read from the tier's and the server's counters.
#include "store_util.hpp"
#include "test_redis.hpp"

#include "store/tiers/redis/redis_server.hpp"
#include "store/tiers/redis/redis_tier.hpp"
#include "store/tiers/redis/rendezvous.hpp"
#include "store/write_behind.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <latch>
#include <thread>

namespace kcache::test {
namespace {

using namespace store;
using namespace std::chrono_literals;
const TargetSpec kHost{TargetKind::host(), "", 2};
const Type kTT = Type::tuple({types::Ptr(types::Float32()), types::Int32()});

RedisOptions options_for(int port) {
    RedisOptions o;
    o.servers = {RedisAddress{"127.0.0.1", port, 0, "", ""}};
    o.timeout = 2s;
    return o;
}

// Memory, optionally a disk at `disk`, then Redis.
std::unique_ptr<Store> redis_store(const RedisOptions& o, const fs::path* disk = nullptr) {
    std::vector<std::unique_ptr<Tier>> tiers;
    tiers.push_back(std::make_unique<MemoryTier>(std::uint64_t(256) << 20));
    if (disk) {
        std::string why;
        auto d = DiskTier::open({*disk}, why);
        if (!d)
            throw std::runtime_error(why);
        tiers.push_back(std::move(d));
    }
    tiers.push_back(std::make_unique<RedisTier>(o));
    return std::make_unique<Store>(std::move(tiers));
}

RedisTier& redis_of(Store& s) {
    return dynamic_cast<RedisTier&>(*s.tier("redis"));
}

std::string bytes_of(const std::vector<std::uint8_t>& v) {
    return std::string(v.begin(), v.end());
}

TEST(RedisTier, EntriesLiveUnderTheirKeysWithATtlAndARecallIsOneGet) {
    TestRedis server;
    RedisOptions o = options_for(server.port());
    o.ttl = 3600s;
    {
        RedisTier tier(o);
        tier.put(key_n(1), artifact_n(1));
        tier.put(action_n(1), artifact_n(1));
        tier.put(key_n(1), artifact_n(2)); // the same key again: the first stays (NX)
        tier.flush();
        EXPECT_EQ(tier.stats().dropped, 0u);
        EXPECT_GT(tier.stats().bytes_written, 4000u);
    }
    const std::string cas = "kcache:v1:cas:" + key_n(1).digest().hex();
    const std::string ac = "kcache:v1:ac:" + action_n(1)->key.digest().hex();
    EXPECT_EQ(RedisTier::key_name("cas", key_n(1).digest()), cas);
    EXPECT_EQ(server.keys("kcache:*").size(), 2u);
    EXPECT_EQ(server.command({"GET", cas}).text(),
              bytes_of(encode_content(key_n(1), *artifact_n(1), Seal::checksum())));
    EXPECT_EQ(server.command({"GET", ac}).text(),
              bytes_of(encode_action(*action_n(1), Seal::checksum())) +
                  bytes_of(encode_content(key_n(1), *artifact_n(1), Seal::checksum())))
        << "the action entry, then the content it names";
    for (const std::string& k : {cas, ac}) {
        const long long ttl = server.command({"TTL", k}).integer();
        EXPECT_GT(ttl, 3000);
        EXPECT_LE(ttl, 3600);
    }

    server.command({"EXPIRE", cas, "10"}); // a hit gives an entry its TTL again
    server.command({"CONFIG", "RESETSTAT"});
    RedisTier fresh(o);
    ArtifactPtr a = fresh.get(key_n(1));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->bytes, artifact_n(1)->bytes);
    EXPECT_GT(server.command({"TTL", cas}).integer(), 3000);
    ActionHit hit = fresh.get(action_n(1)->key);
    ASSERT_TRUE(hit.entry);
    EXPECT_EQ(*hit.entry, *action_n(1));
    ASSERT_TRUE(hit.content) << "the content came with the action entry";
    EXPECT_EQ(hit.content->bytes, artifact_n(1)->bytes);
    EXPECT_EQ(server.calls("get"), 2) << "one GET each";
    EXPECT_EQ(fresh.get(key_n(2)), nullptr);
    EXPECT_EQ(fresh.get(action_n(2)->key).entry, nullptr);
    const TierStats s = fresh.stats();
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(s.misses, 2u);
    EXPECT_GT(s.bytes_read, 6000u);
    EXPECT_EQ(s.errors + s.corrupt + s.rejected, 0u);
}

TEST(RedisTier, AnotherMachineRecallsInOneRoundTripAndItsDiskKeepsTheCode) {
    TestRedis server;
    TempDir first_disk("first"), second_disk("second");
    Chain c;
    const RedisOptions o = options_for(server.port());
    {
        auto store = redis_store(o, &first_disk.path());
        Compiler build(c.table, *store);
        EXPECT_EQ(run_on_host(build.compiler, c.k, 4), sums(1, 2));
        EXPECT_EQ(store->stats().published, 1u);
    } // the tier's destructor sends what its queue holds
    server.command({"CONFIG", "RESETSTAT"});
    {
        auto store = redis_store(o, &second_disk.path());
        Compiler warm(c.table, *store);
        EXPECT_EQ(run_on_host(warm.compiler, c.k, 4), sums(1, 2));
        EXPECT_EQ(store->stats().recalls, 1u);
        EXPECT_EQ(warm.compiler.stats().build.count(), 0) << "no IR built";
        EXPECT_EQ(redis_of(*store).stats().hits, 1u);
        EXPECT_EQ(server.calls("get"), 1) << "action and content in one round trip";
    }
    // Read-through: the second machine's disk now answers without Redis.
    auto local = make_store(second_disk.path());
    Compiler offline(c.table, *local);
    EXPECT_EQ(run_on_host(offline.compiler, c.k, 4), sums(1, 2));
    EXPECT_EQ(local->stats().recalls, 1u);
    EXPECT_EQ(disk_of(*local).stats().hits, 2u) << "its action and its content entry";
}

TEST(RedisTier, UploadsNeverWaitForTheServerAndAFullQueueDropsThem) {
    TestRedis server;
    RedisOptions o = options_for(server.port());
    o.timeout = std::chrono::hours(1); // only the server's answer ends the first upload
    o.backoff = 0ms;
    o.queue_bytes = artifact_n(0)->bytes.size() + 1500; // one upload, in flight or waiting
    RedisTier tier(o);
    server.pause(); // accepts connections, never answers: the first upload hangs in flight
    // Puts only queue: this loop ends while the stopped server has answered nothing (a put that
    // waited for it would wait for the hour).
    for (int i = 0; i < 10; ++i)
        tier.put(key_n(i), artifact_n(i));
    TierStats s = tier.stats();
    EXPECT_EQ(s.dropped, 9u) << "the first fills the queue until the server answers";
    EXPECT_EQ(s.bytes_written, 0u) << "nothing answered yet";
    EXPECT_EQ(s.errors + s.timeouts + s.connect_timeouts, 0u) << "nothing failed or timed out";
    server.resume();
    tier.flush();
    s = tier.stats();
    EXPECT_EQ(s.dropped, 9u);
    EXPECT_GT(s.bytes_written, 0u);
    EXPECT_EQ(s.errors, 0u);
    EXPECT_EQ(server.keys("kcache:v1:cas:*").size(), 1u) << "the first, once the server answered";
}

TEST(RedisTier, AKilledServerIsSkippedWhileItBacksOffAndCompilesGoOnRight) {
    TestRedis server;
    RedisOptions o = options_for(server.port());
    o.backoff = std::chrono::hours(1);
    Chain before, during, after;
    add_adder(MethodTable::global(), during.f, 3.0f); // other code than before's
    add_adder(MethodTable::global(), after.f, 4.0f);
    auto store = redis_store(o);
    Compiler compiler(before.table, *store);
    EXPECT_EQ(run_on_host(compiler.compiler, before.k, 4), sums(1, 2));
    redis_of(*store).flush();
    EXPECT_EQ(redis_of(*store).stats().errors, 0u);

    server.kill(); // mid-run: the connections the tier holds are now dead
    Compiler compiler2(during.table, *store);
    EXPECT_EQ(run_on_host(compiler2.compiler, during.k, 4), sums(3, 2));
    redis_of(*store).flush();
    TierStats s = redis_of(*store).stats();
    EXPECT_EQ(s.errors, 1u) << "one failure, then the server is skipped";
    EXPECT_GE(s.backoffs, 2u) << "the probe, the lock, the uploads";
    EXPECT_GE(s.dropped, 1u);

    server.start(); // back, but still inside the back-off period: not tried
    EXPECT_EQ(redis_of(*store).get(key_n(1)), nullptr);
    TierStats now = redis_of(*store).stats();
    EXPECT_EQ(now.connects, s.connects) << "skipped without a connection attempt";
    EXPECT_EQ(now.errors, s.errors);
    EXPECT_EQ(now.backoffs, s.backoffs + 1);
    Compiler compiler3(after.table, *store);
    EXPECT_EQ(run_on_host(compiler3.compiler, after.k, 4), sums(4, 2));
    redis_of(*store).flush();
    now = redis_of(*store).stats();
    EXPECT_EQ(now.connects, s.connects) << "no connection attempt while backing off";
    EXPECT_EQ(now.errors, s.errors);
    EXPECT_GT(now.backoffs, s.backoffs + 1);
    EXPECT_TRUE(server.keys("kcache:*").empty()) << "nothing sent while backing off";
}

TEST(RedisTier, AServerBackAfterItsBackoffIsUsedAgain) {
    TestRedis server;
    RedisOptions o = options_for(server.port());
    o.backoff = 0ms; // the next operation after a failure tries again
    RedisTier tier(o);
    tier.put(key_n(1), artifact_n(1));
    tier.flush();
    server.kill();
    EXPECT_EQ(tier.get(key_n(1)), nullptr);
    EXPECT_GE(tier.stats().errors, 1u);
    server.start();
    tier.put(key_n(2), artifact_n(2));
    tier.flush();
    ArtifactPtr a = tier.get(key_n(2));
    ASSERT_TRUE(a) << "reconnected: a new connection (and its timeout) after the old one died";
    EXPECT_EQ(a->bytes, artifact_n(2)->bytes);
}

// A socket listening on a free loopback port; the port in `port`.
int listen_on_loopback(int backlog, int& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, backlog), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    return fd;
}

// A listening socket whose accept queue is full: a connect to it is never answered.
class Unanswered {
public:
    Unanswered() : listener_(listen_on_loopback(0, port_)) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(port_));
        filler_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); // takes the one slot
        EXPECT_EQ(::connect(filler_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    ~Unanswered() {
        ::close(filler_);
        ::close(listener_);
    }
    int port() const { return port_; }

private:
    int port_ = 0, listener_ = -1, filler_ = -1;
};

// What a GET sent to `where` came to.
struct Asked {
    RedisServer::Outcome outcome;
    std::string error;
    RedisServer::Counts counts;
};

Asked ask(const RedisAddress& where, std::chrono::milliseconds timeout = 2000ms,
          std::chrono::milliseconds connect_timeout = 100ms) {
    RedisServer server(where, {connect_timeout, timeout, std::uint64_t(1) << 20}, 0ms);
    std::vector<RedisReply> replies;
    const RedisCommand get[] = {{"GET", "kcache:v1:cas:00"}};
    Asked asked;
    asked.outcome = server.run(get, replies, asked.error);
    asked.counts = server.counts();
    return asked;
}

// Each timeout is shown to fire, not measured: the failure is counted as the timeout it was
// (a connect timeout, an operation timeout, or none for a refused connection), the error names
// it, and a server that failed is skipped afterwards without a connection attempt.
TEST(RedisTier, NothingWaitsPastTheTimeouts) {
    Chain c;
    { // nothing listens: refused at once, no timeout
        RedisOptions o = options_for(TestRedis::free_port());
        o.backoff = 0ms;
        auto store = redis_store(o);
        Compiler compiler(c.table, *store);
        EXPECT_EQ(redis_of(*store).get(key_n(1)), nullptr);
        EXPECT_EQ(run_on_host(compiler.compiler, c.k, 4), sums(1, 2));
        redis_of(*store).flush();
        const TierStats s = redis_of(*store).stats();
        EXPECT_GE(s.errors, 2u);
        EXPECT_EQ(s.connects, s.errors) << "each failure a connection refused";
        EXPECT_EQ(s.connect_timeouts + s.timeouts, 0u);
        EXPECT_EQ(store->stats().published, 1u);
    }
    { // a connect never answered: the connect timeout
        Unanswered silent;
        RedisOptions o = options_for(silent.port());
        o.connect_timeout = 200ms;
        RedisTier tier(o);
        EXPECT_EQ(tier.get(key_n(1)), nullptr);
        const TierStats s = tier.stats();
        EXPECT_EQ(s.errors, 1u);
        EXPECT_EQ(s.connects, 1u);
        EXPECT_EQ(s.connect_timeouts, 1u) << "ended by the connect timeout";
        EXPECT_EQ(s.timeouts, 0u);
        const Asked asked = ask(RedisAddress{"127.0.0.1", silent.port(), 0, "", ""}, 2000ms, 200ms);
        EXPECT_EQ(asked.outcome, RedisServer::Outcome::Failed);
        EXPECT_EQ(asked.counts.connect_timeouts, 1u);
        EXPECT_NE(asked.error.find("no connection within 200 ms"), std::string::npos)
            << asked.error;
    }
    { // connected, never answered: the operation timeout, then the back-off
        TestRedis server;
        RedisOptions o = options_for(server.port());
        o.timeout = 300ms;
        o.backoff = std::chrono::hours(1);
        auto store = redis_store(o);
        server.pause();
        EXPECT_EQ(redis_of(*store).get(key_n(1)), nullptr);
        TierStats s = redis_of(*store).stats();
        EXPECT_EQ(s.errors, 1u);
        EXPECT_EQ(s.connects, 1u) << "connected: the kernel accepts for the stopped server";
        EXPECT_EQ(s.timeouts, 1u) << "ended by the operation timeout";
        EXPECT_EQ(s.connect_timeouts, 0u);
        Compiler compiler(c.table, *store);
        EXPECT_EQ(run_on_host(compiler.compiler, c.k, 4), sums(1, 2));
        redis_of(*store).flush();
        s = redis_of(*store).stats();
        EXPECT_EQ(s.errors, 1u) << "skipped since";
        EXPECT_EQ(s.connects, 1u) << "without a connection attempt";
        EXPECT_EQ(s.timeouts, 1u);
        EXPECT_GE(s.backoffs, 2u);
        server.resume();
    }
}

// `value` with one byte flipped in the middle.
std::string flipped(std::string value) {
    value[value.size() / 2] ^= 0x5a;
    return value;
}

TEST(RedisTier, CorruptAndTruncatedValuesAreCountedRecompiledAndReplaced) {
    TestRedis server;
    Chain c;
    const RedisOptions o = options_for(server.port());
    {
        auto store = redis_store(o);
        Compiler build(c.table, *store);
        build.compiler.compile(c.k, kTT, kHost);
    }
    const auto cas = server.keys("kcache:v1:cas:*");
    const auto ac = server.keys("kcache:v1:ac:*");
    ASSERT_EQ(cas.size(), 1u);
    ASSERT_EQ(ac.size(), 1u);
    const std::string good_content(server.command({"GET", cas[0]}).text());
    const std::string good_action(server.command({"GET", ac[0]}).text());
    ASSERT_TRUE(decode_any(server.command({"GET", cas[0]}).bytes(), Seal::checksum()));
    // Written with a raw client: a flipped byte, and a value cut short.
    server.command({"SET", cas[0], flipped(good_content)});
    server.command({"SET", ac[0], good_action.substr(0, good_action.size() - 100)});

    {
        auto store = redis_store(o);
        Compiler again(c.table, *store);
        EXPECT_EQ(run_on_host(again.compiler, c.k, 4), sums(1, 2)) << "compiled, and right";
        EXPECT_EQ(store->stats().published, 1u);
        const TierStats s = redis_of(*store).stats();
        // The truncated action once; the flipped content at the probe and again under the lock.
        EXPECT_EQ(s.corrupt, 3u);
        EXPECT_EQ(s.hits, 0u);
        EXPECT_EQ(s.rejected, 0u) << "no secret: a checksum, not a MAC, caught them";
    }
    const auto replaced = server.command({"GET", cas[0]});
    EXPECT_TRUE(decode_any(replaced.bytes(), Seal::checksum())) << "replaced by the upload";
    auto store = redis_store(o);
    Compiler warm(c.table, *store);
    EXPECT_EQ(run_on_host(warm.compiler, c.k, 4), sums(1, 2));
    EXPECT_EQ(store->stats().recalls, 1u);
}

TEST(RedisTier, WithASecretOnlyValuesUnderItsMacAreUsed) {
    TestRedis server;
    RedisOptions plain = options_for(server.port());
    RedisOptions mine = plain, theirs = plain;
    mine.mac_key = Seal::key_from_secret("our cluster's secret");
    theirs.mac_key = Seal::key_from_secret("another secret");
    {
        RedisTier writer(mine);
        writer.put(key_n(1), artifact_n(1));
        writer.put(action_n(1), artifact_n(1));
        RedisTier unauthenticated(plain); // a checksum is easy to forge
        unauthenticated.put(key_n(2), artifact_n(2));
    }
    RedisTier reader(mine);
    ASSERT_TRUE(reader.get(key_n(1)));
    ASSERT_TRUE(reader.get(action_n(1)->key).content);
    EXPECT_EQ(reader.get(key_n(2)), nullptr) << "no MAC";
    EXPECT_EQ(reader.stats().rejected, 1u);
    RedisTier other(theirs);
    EXPECT_EQ(other.get(key_n(1)), nullptr) << "a MAC under another key";
    EXPECT_EQ(other.get(action_n(1)->key).entry, nullptr);
    EXPECT_EQ(other.stats().rejected, 2u);
    RedisTier no_secret(plain);
    EXPECT_EQ(no_secret.get(key_n(1)), nullptr) << "MAC'd values are not for it either";
    EXPECT_EQ(no_secret.stats().corrupt, 1u);

    // Someone with write access to Redis but not the secret plants code under a kernel's
    // content key: the process with the secret rejects it and compiles the real code.
    server.command({"FLUSHALL"});
    Chain c;
    {
        auto probe = redis_store(plain);
        Compiler build(c.table, *probe);
        build.compiler.compile(c.k, kTT, kHost);
    }
    const auto cas = server.keys("kcache:v1:cas:*");
    ASSERT_EQ(cas.size(), 1u);
    auto original = decode_any(server.command({"GET", cas[0]}).bytes(), Seal::checksum());
    ASSERT_TRUE(original && original.value.content_key) << original.error;
    server.command({"FLUSHALL"});
    // The forgery: the kernel's own content key, a valid checksum, other code.
    server.command(
        {"SET", cas[0],
         bytes_of(encode_content(*original.value.content_key, *artifact_n(7), Seal::checksum()))});
    auto store = redis_store(mine);
    Compiler compiler(c.table, *store);
    EXPECT_EQ(run_on_host(compiler.compiler, c.k, 4), sums(1, 2));
    EXPECT_GE(redis_of(*store).stats().rejected, 1u);
    EXPECT_EQ(store->stats().published, 1u);
}

TEST(RedisTier, OneMachineCompilesWhileAnotherWaitsForItsEntry) {
    TestRedis server;
    RedisOptions o = options_for(server.port());
    o.lock_timeout = 60s;
    RedisTier first(o), second(o);
    auto held = first.lock(key_n(1));
    ASSERT_TRUE(held);
    EXPECT_EQ(server.command({"PTTL", "kcache:v1:lock:" + key_n(1).digest().hex()}).integer() > 0,
              true)
        << "it expires if its holder dies";

    std::latch waiting(1);
    std::atomic<bool> got{false};
    ArtifactPtr seen;
    std::thread other([&] {
        waiting.count_down();
        auto lock = second.lock(key_n(1)); // waits for the first machine
        got = lock != nullptr;
        seen = second.get(key_n(1));
    });
    waiting.wait();
    while (second.stats().lock_waits == 0) // it found the lock held
        std::this_thread::yield();
    first.put(key_n(1), artifact_n(1)); // queued; the release goes behind it
    held.reset();
    other.join();
    EXPECT_TRUE(got.load());
    ASSERT_TRUE(seen) << "once the lock is free the entry is readable";
    EXPECT_EQ(seen->bytes, artifact_n(1)->bytes);
    first.flush();
    EXPECT_TRUE(server.keys("kcache:v1:lock:*").empty());
}

TEST(RedisTier, ALockIsBoundedInTimeAndReleasedOnlyByItsOwner) {
    TestRedis server;
    RedisOptions o = options_for(server.port());
    o.lock_timeout = 60s; // far past the dead holder's lock: only its expiry frees it
    RedisTier patient(o);
    o.lock_timeout = 300ms;
    RedisTier tier(o);
    const std::string lock_key = "kcache:v1:lock:" + key_n(1).digest().hex();
    // A holder that died: its lock expires and the waiter takes it.
    server.command({"SET", lock_key, "dead", "PX", "200"});
    auto lock = patient.lock(key_n(1));
    EXPECT_TRUE(lock);
    TierStats s = patient.stats();
    EXPECT_EQ(s.lock_waits, 1u);
    EXPECT_EQ(s.lock_timeouts, 0u) << "it took the expired lock, it did not give up";
    EXPECT_NE(server.command({"GET", lock_key}).text(), "dead");
    EXPECT_GT(server.command({"PTTL", lock_key}).integer(), 1000) << "ours: the 60 s lock timeout";
    // Meanwhile the lock expired and another machine took it: releasing ours leaves theirs.
    server.command({"SET", lock_key, "theirs"});
    lock.reset();
    patient.flush();
    EXPECT_EQ(server.command({"GET", lock_key}).text(), "theirs");
    // A holder that never finishes: the waiter gives up at the lock timeout and compiles.
    EXPECT_EQ(tier.lock(key_n(1)), nullptr);
    s = tier.stats();
    EXPECT_EQ(s.lock_waits, 1u);
    EXPECT_EQ(s.lock_timeouts, 1u) << "it gave up because the lock timeout passed";
    EXPECT_EQ(s.errors + s.backoffs, 0u) << "not because Redis failed";
    EXPECT_EQ(server.command({"GET", lock_key}).text(), "theirs") << "their lock untouched";
}

// A server on a loopback port that answers every connection with `answer(fd)`.
class FakeServer {
public:
    explicit FakeServer(std::function<void(int)> answer)
        : answer_(std::move(answer)), listener_(listen_on_loopback(4, port_)) {
        thread_ = std::thread([this] {
            for (;;) {
                const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0)
                    return; // shut down
                char request[4096];
                if (::read(fd, request, sizeof request) > 0)
                    answer_(fd);
                ::close(fd);
            }
        });
    }
    ~FakeServer() {
        ::shutdown(listener_, SHUT_RDWR);
        thread_.join();
        ::close(listener_);
    }
    RedisAddress address() const { return {"127.0.0.1", port_, 0, "", ""}; }

private:
    std::function<void(int)> answer_;
    int port_ = 0, listener_ = -1;
    std::thread thread_;
};

void send_all(int fd, const std::string& s) {
    for (std::size_t done = 0; done < s.size();) {
        const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        done += static_cast<std::size_t>(n);
    }
}

TEST(RedisServer, ARedisClusterRedirectionIsAnErrorThatSaysWhatToDo) {
    FakeServer cluster([](int fd) { send_all(fd, "-MOVED 3999 127.0.0.1:6381\r\n"); });
    const Asked asked = ask(cluster.address());
    EXPECT_EQ(asked.outcome, RedisServer::Outcome::Failed);
    EXPECT_NE(asked.error.find("Redis Cluster"), std::string::npos) << asked.error;
    EXPECT_NE(asked.error.find("list the servers in KCACHE_REDIS"), std::string::npos)
        << asked.error;
}

TEST(RedisServer, HostileRepliesAreErrorsWithinTheLimits) {
    { // a value over the reply limit (1 MiB here) is not read to its end
        FakeServer big([](int fd) {
            send_all(fd, "$100000000\r\n" + std::string(std::size_t(3) << 20, 'x'));
        });
        const Asked asked = ask(big.address());
        EXPECT_EQ(asked.outcome, RedisServer::Outcome::Failed);
        EXPECT_NE(asked.error.find("a reply over 1048576 bytes"), std::string::npos) << asked.error;
        EXPECT_EQ(asked.counts.timeouts, 0u) << "cut at the limit, not left to time out";
    }
    { // an array announced with two billion elements is not allocated
        FakeServer huge([](int fd) { send_all(fd, "*2000000000\r\n"); });
        const Asked asked = ask(huge.address());
        EXPECT_EQ(asked.outcome, RedisServer::Outcome::Failed);
        EXPECT_NE(asked.error.find("bad reply"), std::string::npos) << asked.error;
        EXPECT_EQ(asked.counts.timeouts, 0u);
    }
    { // a server trickling a byte every 20 ms cannot hold the caller past its timeout: each
      // read comes well within 300 ms, so only a deadline on the whole reply ends it (its 1000
      // bytes would take 20 s, and then be a bad reply: no CRLF after them)
        std::atomic<bool> stop{false};
        FakeServer slow([&](int fd) {
            send_all(fd, "$1000\r\n");
            while (!stop && ::send(fd, "x", 1, MSG_NOSIGNAL) == 1)
                std::this_thread::sleep_for(20ms); // the hostile server's pace, not a sync
        });
        const Asked asked = ask(slow.address(), 300ms);
        stop = true;
        EXPECT_EQ(asked.outcome, RedisServer::Outcome::Failed);
        EXPECT_NE(asked.error.find("no answer within 300 ms"), std::string::npos) << asked.error;
        EXPECT_EQ(asked.counts.timeouts, 1u) << "ended by the operation timeout";
        EXPECT_EQ(asked.counts.connects, 1u);
    }
}

TEST(Rendezvous, EveryClientPicksTheSameServerAndARemovedServerMovesOnlyItsKeys) {
    const Rendezvous three({"redis://a:6379/0", "redis://b:6379/0", "redis://c:6379/0"});
    const Rendezvous reordered({"redis://c:6379/0", "redis://a:6379/0", "redis://b:6379/0"});
    const Rendezvous two({"redis://a:6379/0", "redis://c:6379/0"});
    const std::size_t reorder[] = {1, 2, 0}; // index in `three` -> index in `reordered`
    int per_server[3] = {0, 0, 0}, moved = 0;
    constexpr int kKeys = 3000;
    for (int i = 0; i < kKeys; ++i) {
        const Digest d = kernels::DigestBuilder("test").add(std::uint64_t(i)).finish();
        const std::size_t s = three.pick(d);
        ++per_server[s];
        EXPECT_EQ(reordered.pick(d), reorder[s]);
        const std::size_t after = two.pick(d); // b (1) removed: a stays 0, c becomes 1
        if (s == 1)
            ++moved;
        else
            EXPECT_EQ(after, s == 0 ? 0u : 1u) << "a key of a server still listed moved";
    }
    for (int n : per_server) {
        EXPECT_GT(n, kKeys / 3 - 200);
        EXPECT_LT(n, kKeys / 3 + 200);
    }
    EXPECT_EQ(moved, per_server[1]);
}

TEST(WriteBehind, DrainsInOrderFlushWaitsAndTheBoundDrops) {
    std::vector<int> seen;
    std::latch entered(1), release(1);
    bool first = true;
    WriteBehind<int> queue(10, [&](std::vector<int>& batch) {
        if (first) { // hold the thread in its first drain
            first = false;
            entered.count_down();
            release.wait();
        }
        seen.insert(seen.end(), batch.begin(), batch.end());
    });
    EXPECT_TRUE(queue.push(1, 4));
    entered.wait(); // 1 is being drained
    EXPECT_TRUE(queue.push(2, 4));
    EXPECT_FALSE(queue.push(3, 4)) << "12 of 10 bytes: what is in flight counts too";
    EXPECT_TRUE(queue.push(4, 100, /*bounded=*/false));
    EXPECT_EQ(queue.queued_bytes(), 108u);
    release.count_down();
    queue.flush();
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 4}));
    EXPECT_EQ(queue.queued_bytes(), 0u);
}

} // namespace
} // namespace kcache::test
