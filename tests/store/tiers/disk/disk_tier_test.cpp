// The disk tier (issue section 3): layout and permissions, checks on every read, symlinks,
// refused directories, the size cap and its LRU order, mtime refresh, temporary files, a deleted
// directory, and the per-key compile lock.
#include "store_util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace kcache::test {
namespace {

using namespace store;
using kernels::Digest;

fs::path file_of(const fs::path& root, bool action, const Digest& d) {
    const std::string hex = d.hex();
    return root / "v1" / (action ? "ac" : "cas") / hex.substr(0, 2) / hex;
}

std::unique_ptr<DiskTier> open_tier(const fs::path& root, std::uint64_t max = 1 << 30,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::string why;
    auto t = DiskTier::open({root, max, timeout}, why);
    EXPECT_TRUE(t) << why;
    return t;
}

unsigned mode_of(const fs::path& p) {
    struct stat st;
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

void set_age(const fs::path& p, std::time_t seconds_ago) {
    const timespec t{std::time(nullptr) - seconds_ago, 0};
    const timespec times[2] = {t, t};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

std::time_t age_of(const fs::path& p) {
    struct stat st;
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return std::time(nullptr) - st.st_mtime;
}

std::vector<std::uint8_t> read_bytes(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

void write_bytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

TEST(DiskTier, LayoutPermissionsAndARoundTripAcrossInstances) {
    TempDir tmp("disk");
    const fs::path root = tmp.path() / "a" / "store";
    {
        auto t = open_tier(root);
        t->put(key_n(1), artifact_n(1));
        t->put(action_n(1), artifact_n(1));
        EXPECT_GT(t->stats().bytes_written, 2000u);
    }
    for (const fs::path& dir : {tmp.path() / "a", root, root / "v1", root / "v1" / "cas",
                                root / "v1" / "ac", root / "v1" / "tmp"})
        EXPECT_EQ(mode_of(dir), 0700u) << dir;
    const fs::path content = file_of(root, false, key_n(1).digest());
    const fs::path action = file_of(root, true, action_n(1)->key.digest());
    EXPECT_EQ(mode_of(content), 0600u);
    EXPECT_EQ(mode_of(action), 0600u);
    EXPECT_EQ(mode_of(content.parent_path()), 0700u);
    EXPECT_TRUE(fs::is_empty(root / "v1" / "tmp")) << "nothing left half-written";

    auto fresh = open_tier(root);
    ArtifactPtr a = fresh->get(key_n(1));
    ASSERT_TRUE(a);
    EXPECT_EQ(a->bytes, artifact_n(1)->bytes);
    auto e = fresh->get(action_n(1)->key);
    ASSERT_TRUE(e.entry);
    EXPECT_EQ(*e.entry, *action_n(1));
    EXPECT_EQ(e.content, nullptr) << "the disk tier keeps content apart";
    EXPECT_EQ(fresh->get(key_n(2)), nullptr);
    EXPECT_EQ(fresh->stats().hits, 2u);
    EXPECT_EQ(fresh->stats().misses, 1u);
    EXPECT_GT(fresh->stats().bytes_read, 2000u);
}

TEST(DiskTier, BadEntriesAreCountedDeletedAndMisses) {
    TempDir tmp("disk");
    auto t = open_tier(tmp.path());
    t->put(key_n(1), artifact_n(1));
    t->put(key_n(2), artifact_n(2));
    const fs::path path = file_of(tmp.path(), false, key_n(1).digest());
    const auto good = read_bytes(path);
    const auto other = read_bytes(file_of(tmp.path(), false, key_n(2).digest()));

    struct Case {
        const char* what;
        std::vector<std::uint8_t> bytes;
    };
    auto flipped = good;
    flipped[flipped.size() / 2] ^= 1;
    std::vector<Case> cases = {
        {"a flipped bit", flipped},
        {"truncated", std::vector<std::uint8_t>(good.begin(), good.begin() + good.size() / 2)},
        {"empty", {}},
        {"garbage", std::vector<std::uint8_t>(300, 0x5a)},
        {"another key's entry", other},
    };
    std::uint64_t corrupt = 0;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        write_bytes(path, c.bytes);
        EXPECT_EQ(t->get(key_n(1)), nullptr);
        EXPECT_EQ(t->stats().corrupt, ++corrupt);
        EXPECT_FALSE(fs::exists(path)) << "a bad entry is deleted";
    }
    // And a good one written again is served.
    t->put(key_n(1), artifact_n(1));
    EXPECT_NE(t->get(key_n(1)), nullptr);
}

TEST(DiskTier, SymlinksInsideTheStoreAreNeverFollowed) {
    TempDir tmp("disk");
    const fs::path root = tmp.path() / "store";
    auto t = open_tier(root);
    t->put(key_n(1), artifact_n(1));
    t->put(key_n(2), artifact_n(2));

    // An entry that is a symlink to a good entry elsewhere.
    const fs::path entry = file_of(root, false, key_n(1).digest());
    fs::copy_file(entry, tmp.path() / "elsewhere");
    fs::remove(entry);
    fs::create_symlink(tmp.path() / "elsewhere", entry);
    EXPECT_EQ(t->get(key_n(1)), nullptr);
    EXPECT_TRUE(fs::exists(tmp.path() / "elsewhere"));

    // A shard directory that is a symlink to a directory holding the entry.
    const fs::path entry2 = file_of(root, false, key_n(2).digest());
    const fs::path shard = entry2.parent_path();
    fs::rename(shard, tmp.path() / "shard");
    fs::create_directory_symlink(tmp.path() / "shard", shard);
    EXPECT_EQ(t->get(key_n(2)), nullptr);
    EXPECT_EQ(open_tier(root)->get(key_n(2)), nullptr);

    // v1 itself a symlink: the store is refused.
    fs::rename(root / "v1", tmp.path() / "v1");
    fs::create_directory_symlink(tmp.path() / "v1", root / "v1");
    std::string why;
    EXPECT_EQ(DiskTier::open({root}, why), nullptr);
    EXPECT_NE(why.find("symlink"), std::string::npos) << why;
}

TEST(DiskTier, RefusesDirectoriesOthersCanWrite) {
    TempDir tmp("disk");
    const fs::path root = tmp.path() / "store";
    fs::create_directories(root);
    std::string why;

    ::chmod(root.c_str(), 0770);
    EXPECT_EQ(DiskTier::open({root}, why), nullptr);
    EXPECT_NE(why.find("writable by group or others (mode 0770)"), std::string::npos) << why;

    ::chmod(root.c_str(), 0700);
    ASSERT_TRUE(open_tier(root));
    ::chmod((root / "v1" / "cas").c_str(), 0777);
    EXPECT_EQ(DiskTier::open({root}, why), nullptr);
    EXPECT_NE(why.find("v1/cas is writable by group or others"), std::string::npos) << why;
    ::chmod((root / "v1" / "cas").c_str(), 0700);

    const uid_t someone_else = ::geteuid() == 0 ? 65534 : 0;
    if (::chown(root.c_str(), someone_else, static_cast<gid_t>(-1)) != 0)
        GTEST_SKIP() << "cannot give the directory to uid " << someone_else
                     << " (not root): the owner check is not exercised";
    EXPECT_EQ(DiskTier::open({root}, why), nullptr);
    EXPECT_NE(why.find("owned by uid " + std::to_string(someone_else)), std::string::npos) << why;
}

// Entry sizes as the tier writes them, to place the cap exactly.
std::uint64_t size_of_file(const fs::path& p) {
    return fs::file_size(p);
}

TEST(DiskTier, OverTheCapItEvictsLeastRecentlyUsedActionsFirstDownToNinetyPercent) {
    TempDir tmp("disk");
    auto big = open_tier(tmp.path());
    for (int i = 0; i < 6; ++i)
        big->put(key_n(i), artifact_n(i));
    big->put(action_n(9), artifact_n(9));
    const std::uint64_t s = size_of_file(file_of(tmp.path(), false, key_n(0).digest()));
    const fs::path action = file_of(tmp.path(), true, action_n(9)->key.digest());
    const std::uint64_t a = size_of_file(action);
    // Ages: content i is (10 - i) hours old; the action entry as old as content 2.
    for (int i = 0; i < 6; ++i)
        set_age(file_of(tmp.path(), false, key_n(i).digest()), (10 - i) * 3600);
    set_age(action, 8 * 3600);

    // A cap whose 90 % holds four content entries but not four and the action entry: evicting
    // contents 0 and 1 is not enough, the action entry (as old as content 2) goes next.
    const std::uint64_t cap = (4 * s + a / 2) * 10 / 9 + 10;
    ASSERT_LE(4 * s, cap / 10 * 9);
    ASSERT_GT(4 * s + a, cap / 10 * 9);
    std::string why;
    auto t = DiskTier::open({tmp.path(), cap}, why);
    ASSERT_TRUE(t) << why;
    EXPECT_EQ(t->collect(), 4 * s);
    EXPECT_EQ(t->stats().evictions, 3u);
    std::ifstream usage(tmp.path() / "v1" / "usage"); // where the next process starts from
    std::uint64_t recorded = 0;
    usage >> recorded;
    EXPECT_EQ(recorded, 4 * s);
    EXPECT_FALSE(fs::exists(file_of(tmp.path(), false, key_n(0).digest())));
    EXPECT_FALSE(fs::exists(file_of(tmp.path(), false, key_n(1).digest())));
    EXPECT_FALSE(fs::exists(action));
    for (int i = 2; i < 6; ++i)
        EXPECT_TRUE(fs::exists(file_of(tmp.path(), false, key_n(i).digest()))) << i;
}

TEST(DiskTier, AHitKeepsAnEntryFromEvictionAndWritesCollectByThemselves) {
    TempDir tmp("disk");
    const std::uint64_t s = [&] { // the size of one entry file
        TempDir probe("disk");
        open_tier(probe.path())->put(key_n(0), artifact_n(0));
        return size_of_file(file_of(probe.path(), false, key_n(0).digest()));
    }();
    std::string why;
    auto t = DiskTier::open({tmp.path(), 4 * s}, why); // room for four
    ASSERT_TRUE(t) << why;
    for (int i = 0; i < 4; ++i)
        t->put(key_n(i), artifact_n(i));
    EXPECT_EQ(t->stats().evictions, 0u);
    for (int i = 0; i < 4; ++i)
        set_age(file_of(tmp.path(), false, key_n(i).digest()), (10 - i) * 3600);
    ASSERT_TRUE(t->get(key_n(0)));   // the oldest, used now
    t->put(key_n(4), artifact_n(4)); // five entries: over the cap, collected by the write
    EXPECT_TRUE(fs::exists(file_of(tmp.path(), false, key_n(0).digest())));
    EXPECT_TRUE(fs::exists(file_of(tmp.path(), false, key_n(4).digest())));
    EXPECT_FALSE(fs::exists(file_of(tmp.path(), false, key_n(1).digest())));
    EXPECT_FALSE(fs::exists(file_of(tmp.path(), false, key_n(2).digest())));
    EXPECT_EQ(t->stats().evictions, 2u);
}

TEST(DiskTier, AHitRefreshesTheMtimeAtMostOnceAMinute) {
    TempDir tmp("disk");
    auto t = open_tier(tmp.path());
    t->put(key_n(1), artifact_n(1));
    const fs::path p = file_of(tmp.path(), false, key_n(1).digest());
    set_age(p, 2 * 3600);
    ASSERT_TRUE(t->get(key_n(1)));
    EXPECT_LT(age_of(p), 60);
    set_age(p, 30);
    ASSERT_TRUE(t->get(key_n(1)));
    EXPECT_GE(age_of(p), 30) << "refreshed again within a minute";
}

TEST(DiskTier, CollectSweepsTemporaryFilesOlderThanAnHour) {
    TempDir tmp("disk");
    auto t = open_tier(tmp.path());
    const fs::path old_tmp = tmp.path() / "v1" / "tmp" / "x.123.0.tmp";
    const fs::path new_tmp = tmp.path() / "v1" / "tmp" / "y.123.1.tmp";
    write_bytes(old_tmp, {1, 2, 3});
    write_bytes(new_tmp, {1, 2, 3});
    set_age(old_tmp, 2 * 3600);
    t->collect();
    EXPECT_FALSE(fs::exists(old_tmp));
    EXPECT_TRUE(fs::exists(new_tmp));
}

TEST(DiskTier, ADeletedDirectoryIsMadeAgainWithAWarning) {
    TempDir tmp("disk");
    const fs::path root = tmp.path() / "store";
    auto t = open_tier(root);
    t->put(key_n(1), artifact_n(1));
    fs::remove_all(root);
    EXPECT_EQ(t->get(key_n(1)), nullptr); // gone: a miss
    t->put(key_n(2), artifact_n(2));
    EXPECT_EQ(t->stats().errors, 1u);
    EXPECT_TRUE(fs::exists(file_of(root, false, key_n(2).digest())));
    EXPECT_EQ(mode_of(root), 0700u);
    ASSERT_TRUE(t->get(key_n(2)));
}

TEST(DiskTier, TheCompileLockWaitsTimesOutAndDiesWithItsHolder) {
    TempDir tmp("disk");
    auto holder = open_tier(tmp.path());
    auto waiter = open_tier(tmp.path(), 1 << 30, std::chrono::milliseconds(50));
    {
        auto held = holder->lock(key_n(1));
        ASSERT_TRUE(held);
        EXPECT_EQ(waiter->lock(key_n(1)), nullptr) << "held: the waiter gives up";
        EXPECT_EQ(waiter->stats().lock_waits, 1u);
        EXPECT_EQ(waiter->stats().lock_timeouts, 1u) << "it gave up at the lock timeout";
        EXPECT_TRUE(waiter->lock(key_n(2))) << "another key is free";
    }
    EXPECT_TRUE(waiter->lock(key_n(1))) << "released with its holder";

    // A holder process that dies releases it.
    int ready[2], hold[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(hold), 0);
    const std::string lock_file =
        (tmp.path() / "v1" / "tmp" / (key_n(3).digest().hex() + ".lock")).string();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) { // async-signal-safe calls only
        const int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT, 0600);
        char c = (fd >= 0 && ::flock(fd, LOCK_EX) == 0) ? 'y' : 'n';
        (void)!::write(ready[1], &c, 1);
        (void)!::read(hold[0], &c, 1); // until killed
        ::_exit(0);
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ASSERT_EQ(c, 'y');
    EXPECT_EQ(waiter->lock(key_n(3)), nullptr) << "held by the child";
    EXPECT_EQ(waiter->stats().lock_timeouts, 2u);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    EXPECT_TRUE(waiter->lock(key_n(3))) << "released by the child's death";
    for (int fd : {ready[0], ready[1], hold[0], hold[1]})
        ::close(fd);
}

TEST(DiskTier, ConcurrentWritersAndReadersSeeWholeEntriesOnly) {
    TempDir tmp("disk");
    auto t = open_tier(tmp.path());
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int w = 0; w < 4; ++w)
        threads.emplace_back([&, w] {
            for (int i = 0; i < 40; ++i) {
                const int n = (i + w) % 8;
                if ((i + w) % 2)
                    t->put(key_n(n), artifact_n(n, 5000));
                if (ArtifactPtr a = t->get(key_n(n)); a && a->bytes != artifact_n(n, 5000)->bytes)
                    ++wrong;
            }
        });
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(t->stats().corrupt, 0u);
    EXPECT_TRUE(fs::is_empty(tmp.path() / "v1" / "tmp"));
}

} // namespace
} // namespace kcache::test
