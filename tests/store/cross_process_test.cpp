// The store across processes: the action cache between two processes in a row when a callee
// changed in between (through dispatch, an overlay, a new more specific method, its IR); four
// processes compiling the library into one empty directory at once; faults made real (a
// read-only bind mount, a directory the process cannot write as an unprivileged user, a full
// filesystem); and `kcache run` twice on an empty store.
#include "process.hpp"
#include "store_util.hpp"

#include "store/entry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace kcache::test {
namespace {

class CrossProcess : public ::testing::Test {
protected:
    ProcessResult worker(std::vector<std::string> args, const fs::path& dir) {
        args.insert(args.begin(), {KCACHE_STORE_WORKER, "--dir", dir.string()});
        return run_process(std::move(args), {}, scratch_.path());
    }
    // The scenario's outputs out0..out3 as the worker printed them.
    static std::vector<float> outputs(const ProcessResult& r) {
        std::vector<float> v;
        for (int i = 0; i < 4; ++i)
            v.push_back(static_cast<float>(stat_of(r.out, "out" + std::to_string(i))));
        return v;
    }
    TempDir scratch_{"scratch"};
};

TEST_F(CrossProcess, TheNextProcessRunsTheNewCodeOfAChangedCallee) {
    TempDir dir("scenario");
    struct Step {
        const char* variant;
        std::vector<float> out;
        bool recalled; ///< served by the action cache: no IR built
        bool compiled; ///< went through code generation
    };
    const Step steps[] = {
        {"base", sums(1, 1), false, true},
        {"base", sums(1, 1), true, false},
        {"changed", sums(10, 1), false, true}, // the callee's source, reached by dispatch
        {"changed", sums(10, 1), true, false},
        {"overlay", sums(100, 1), false, true},   // an overlay method shadows it
        {"specific", sums(1000, 1), false, true}, // a new more specific method
        {"ir-changed", sums(1, 2), false, true},  // an IR callee's text
        {"base", sums(1, 1), false, false},       // back to the first: from the disk
        {"base", sums(1, 1), true, false},
    };
    for (const Step& s : steps) {
        SCOPED_TRACE(s.variant);
        ProcessResult r = worker({"scenario", s.variant}, dir.path());
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_EQ(outputs(r), s.out) << r.out;
        EXPECT_EQ(stat_of(r.out, "recalls"), s.recalled ? 1 : 0) << r.out;
        EXPECT_EQ(stat_of(r.out, "published"), s.compiled ? 1 : 0) << r.out;
        EXPECT_EQ(stat_of(r.out, "disk_corrupt"), 0) << r.out;
    }
}

TEST_F(CrossProcess, FourProcessesCompileTheLibraryIntoOneEmptyDirectoryOnce) {
    TempDir dir("library");
    std::atomic<bool> done{false};
    std::atomic<int> checked{0}, bad{0};
    // Every entry file that appears is read whole and must decode: never a half-written one.
    std::thread scanner([&] {
        while (!done.load()) {
            for (const char* kind : {"cas", "ac"}) {
                std::error_code ec;
                for (auto it = fs::recursive_directory_iterator(dir.path() / "v1" / kind, ec);
                     !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
                    if (!it->is_regular_file(ec))
                        continue;
                    std::ifstream f(it->path(), std::ios::binary);
                    std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(f), {}};
                    if (bytes.empty() && !fs::exists(it->path()))
                        continue; // evicted between listing and opening
                    ++checked;
                    if (!store::decode_any(bytes, store::Seal::checksum()))
                        ++bad;
                }
            }
        }
    });
    std::vector<std::unique_ptr<Process>> workers;
    for (int i = 0; i < 4; ++i)
        workers.push_back(std::make_unique<Process>(
            std::vector<std::string>{KCACHE_STORE_WORKER, "--dir", dir.path().string(), "library"},
            std::vector<std::string>{"KCACHE_CACHE_LOCK_TIMEOUT=300"}, scratch_.path()));
    long long published = 0, lock_waits = 0;
    for (auto& w : workers) {
        ProcessResult r = w->wait();
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_NE(r.out.find("all results match"), std::string::npos) << r.out;
        EXPECT_EQ(stat_of(r.out, "disk_corrupt"), 0);
        EXPECT_EQ(stat_of(r.out, "disk_errors"), 0) << r.err;
        published += stat_of(r.out, "published");
        lock_waits += stat_of(r.out, "disk_lock_waits");
    }
    done = true;
    scanner.join();
    EXPECT_EQ(bad.load(), 0) << "of " << checked.load() << " entry files read while written";

    std::size_t entries = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir.path() / "v1" / "cas"))
        entries += e.is_regular_file();
    EXPECT_GT(entries, 20u);
    // Each (kernel, spec) compiled once in total: every process's compilations together are
    // exactly the distinct entries.
    EXPECT_EQ(static_cast<std::size_t>(published), entries) << "lock waits: " << lock_waits;
    EXPECT_TRUE(fs::is_empty(dir.path() / "v1" / "tmp")) << "temporary and lock files are gone";
}

TEST_F(CrossProcess, AReadOnlyBindMountServesReadsAndLosesOnlyTheWrites) {
    TempDir dir("readonly");
    ASSERT_EQ(worker({"scenario", "base"}, dir.path()).status, 0);
    ProcessResult hit = worker({"--mount-ro", "scenario", "base"}, dir.path());
    if (hit.status == 77)
        GTEST_SKIP() << "no read-only bind mount here: " << hit.err;
    ASSERT_EQ(hit.status, 0) << hit.out << hit.err;
    EXPECT_EQ(outputs(hit), sums(1, 1));
    EXPECT_EQ(stat_of(hit.out, "recalls"), 1);

    ProcessResult miss = worker({"--mount-ro", "scenario", "changed"}, dir.path());
    ASSERT_EQ(miss.status, 0) << miss.out << miss.err;
    EXPECT_EQ(outputs(miss), sums(10, 1)) << "compiled and run all the same";
    EXPECT_GE(stat_of(miss.out, "disk_errors"), 1);
    EXPECT_NE(miss.err.find("Read-only file system"), std::string::npos) << miss.err;
}

TEST_F(CrossProcess, ADirectoryTheUserCannotWriteServesReadsAndLosesOnlyTheWrites) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to hand the store to an unprivileged user";
    TempDir dir("unwritable");
    ASSERT_EQ(worker({"scenario", "base"}, dir.path()).status, 0);
    // The store belongs to uid 65534, who may read but not write it.
    const uid_t nobody = 65534;
    for (const auto& e : fs::recursive_directory_iterator(dir.path()))
        ASSERT_EQ(::lchown(e.path().c_str(), nobody, nobody), 0);
    ASSERT_EQ(::chown(dir.path().c_str(), nobody, nobody), 0);
    for (const auto& e : fs::recursive_directory_iterator(dir.path()))
        if (e.is_directory())
            ::chmod(e.path().c_str(), 0500);
    ::chmod(dir.path().c_str(), 0500);

    ProcessResult miss = worker({"--user", "65534", "scenario", "changed"}, dir.path());
    ASSERT_EQ(miss.status, 0) << miss.out << miss.err;
    EXPECT_EQ(outputs(miss), sums(10, 1));
    EXPECT_GE(stat_of(miss.out, "disk_errors"), 1);
    EXPECT_NE(miss.err.find("Permission denied"), std::string::npos) << miss.err;
    ProcessResult hit = worker({"--user", "65534", "scenario", "base"}, dir.path());
    ASSERT_EQ(hit.status, 0) << hit.out << hit.err;
    EXPECT_EQ(stat_of(hit.out, "recalls"), 1);
    ::chmod(dir.path().c_str(), 0700); // so that TempDir can remove it
    for (const auto& e : fs::recursive_directory_iterator(dir.path()))
        if (e.is_directory())
            ::chmod(e.path().c_str(), 0700);
}

TEST_F(CrossProcess, AFullFilesystemLosesTheWriteNotTheResult) {
    TempDir dir("full");
    ProcessResult r = worker({"--tmpfs", "256k", "scenario", "base"}, dir.path());
    if (r.status == 77)
        GTEST_SKIP() << "no tmpfs mount here: " << r.err;
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(outputs(r), sums(1, 1));
    EXPECT_EQ(stat_of(r.out, "published"), 1);
    EXPECT_GE(stat_of(r.out, "disk_errors"), 1);
    EXPECT_EQ(stat_of(r.out, "disk_bytes_written"), 0);
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_EQ(stat_of(r.out, "tmp_files"), 0) << "no half-written file left behind";
    EXPECT_EQ(stat_of(r.out, "cas_files"), 0);
}

TEST_F(CrossProcess, ASecondKcacheRunOnTheSameStoreBuildsNothing) {
    TempDir dir("run");
    const std::vector<std::string> env = {"KCACHE_CACHE_DIR=" + dir.path().string()};
    ProcessResult first =
        run_process({KCACHE_CLI_PATH, "run", "--device", "host"}, env, scratch_.path());
    ASSERT_EQ(first.status, 0) << first.out << first.err;
    EXPECT_NE(first.out.find("compiled"), std::string::npos) << first.out;
    ProcessResult second =
        run_process({KCACHE_CLI_PATH, "run", "--device", "host"}, env, scratch_.path());
    ASSERT_EQ(second.status, 0) << second.out << second.err;
    for (const char* kernel :
         {"fill ", "vadd ", "saxpy ", "reduce_sum ", "matmul_tiled ", "axpby_ir "}) {
        const auto line = second.out.substr(second.out.find(std::string("\n") + kernel));
        EXPECT_NE(line.substr(0, line.find('\n', 1)).find("disk (no IR)"), std::string::npos)
            << kernel << "\n"
            << second.out;
    }
    EXPECT_NE(second.out.find("store: 10 recalled (no IR built), 0 found by IR hash, 0 compiled"),
              std::string::npos)
        << second.out;
}

} // namespace
} // namespace kcache::test
