// The Redis tier across processes, as on a cluster: four processes, each with its own empty disk
// directory (as four machines would have), share one Redis and compile the kernel library at
// once; each (kernel, spec) is compiled once in total and every process's results are right.
// Then `kcache run` on a fifth "machine" says all its code came from Redis.
#include "process.hpp"
#include "store_util.hpp"
#include "test_redis.hpp"

#include "store/entry.hpp"

#include <gtest/gtest.h>

#include <iostream>

namespace kcache::test {
namespace {

TEST(RedisCluster, FourProcessesCompileEachKernelOnceInTotalAndAFifthRunsFromRedis) {
    TestRedis server;
    TempDir scratch("scratch");
    std::vector<std::unique_ptr<TempDir>> disks;
    std::vector<std::unique_ptr<Process>> workers;
    for (int i = 0; i < 4; ++i) {
        disks.push_back(std::make_unique<TempDir>("machine"));
        workers.push_back(std::make_unique<Process>(
            std::vector<std::string>{KCACHE_STORE_WORKER, "--dir", disks.back()->path().string(),
                                     "library"},
            std::vector<std::string>{"KCACHE_REDIS=" + server.url(),
                                     "KCACHE_CACHE_LOCK_TIMEOUT=300"},
            scratch.path()));
    }
    long long published = 0, lock_waits = 0, redis_hits = 0;
    for (auto& w : workers) {
        ProcessResult r = w->wait();
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_NE(r.out.find("all results match"), std::string::npos) << r.out;
        for (const char* stat : {"redis_corrupt", "redis_errors", "redis_rejected", "redis_dropped",
                                 "redis_backoffs", "disk_corrupt"})
            EXPECT_EQ(stat_of(r.out, stat), 0) << stat << "\n" << r.out << r.err;
        published += stat_of(r.out, "published");
        lock_waits += stat_of(r.out, "redis_lock_waits");
        redis_hits += stat_of(r.out, "redis_hits");
    }
    // Every entry in Redis is whole, and there is one per distinct (kernel, spec) compiled.
    const auto entries = server.keys("kcache:v1:cas:*");
    EXPECT_GT(entries.size(), 20u);
    for (const std::string& key : entries)
        EXPECT_TRUE(
            store::decode_any(server.command({"GET", key}).bytes(), store::Seal::checksum()))
            << key;
    EXPECT_EQ(static_cast<std::size_t>(published), entries.size())
        << "compiled once in total across the processes";
    EXPECT_TRUE(server.keys("kcache:v1:lock:*").empty()) << "every lock released";
    // For bench/RESULTS.md.
    std::cout << "cluster: 4 processes, " << published << " compilations in total for "
              << entries.size() << " distinct content entries; " << redis_hits << " Redis hits, "
              << lock_waits << " lock waits\n";

    // A fifth machine's `kcache run` takes all its code from Redis, and says so.
    TempDir fifth("fifth");
    ProcessResult run =
        run_process({KCACHE_CLI_PATH, "run", "--device", "host"},
                    {"KCACHE_CACHE_DIR=" + fifth.path().string(), "KCACHE_REDIS=" + server.url()},
                    scratch.path());
    ASSERT_EQ(run.status, 0) << run.out << run.err;
    for (const char* kernel : {"fill ", "vadd ", "saxpy ", "reduce_sum ", "axpby_ir "}) {
        const auto line = run.out.substr(run.out.find(std::string("\n") + kernel));
        EXPECT_NE(line.substr(0, line.find('\n', 1)).find("redis (no IR)"), std::string::npos)
            << kernel << "\n"
            << run.out;
    }
    EXPECT_NE(run.out.find(", 0 compiled"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("redis://127.0.0.1:" + std::to_string(server.port()) + "/0"),
              std::string::npos)
        << "the per-tier stats name the server\n"
        << run.out;
}

} // namespace
} // namespace kcache::test
