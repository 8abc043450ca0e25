// The Redis tier's configuration: KCACHE_REDIS's URLs, durations, and the secret (a bad value
// is one clear warning and no Redis tier; a secret that is empty or readable by others is never
// used, and neither is a Redis tier without it).
#include "store_util.hpp"

#include "store/config.hpp"
#include "store/entry.hpp"
#include "store/tiers/redis/redis_tier.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace kcache::test {
namespace {

using namespace store;
using namespace std::chrono_literals;

// Sets (or, with nullptr, unsets) environment variables for its lifetime.
class Env {
public:
    Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
        for (const auto& [name, value] : vars) {
            const char* old = std::getenv(name);
            saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
            if (value)
                ::setenv(name, value, 1);
            else
                ::unsetenv(name);
        }
    }
    ~Env() {
        for (const auto& [name, value] : saved_)
            value ? ::setenv(name.c_str(), value->c_str(), 1) : ::unsetenv(name.c_str());
    }

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
        s += x + "\n";
    return s;
}

TEST(RedisConfig, UrlsNameServersWithPortDatabaseAndCredentials) {
    std::string error;
    auto servers = parse_redis_urls(
        "redis://cache1, redis://10.0.0.2:7000/3,redis://:p%40ss@h:1/0,redis://u:pw@[::1]:6380",
        error);
    ASSERT_TRUE(servers) << error;
    ASSERT_EQ(servers->size(), 4u);
    EXPECT_EQ((*servers)[0], (RedisAddress{"cache1", 6379, 0, "", ""}));
    EXPECT_EQ((*servers)[1], (RedisAddress{"10.0.0.2", 7000, 3, "", ""}));
    EXPECT_EQ((*servers)[2], (RedisAddress{"h", 1, 0, "", "p@ss"}));
    EXPECT_EQ((*servers)[3], (RedisAddress{"::1", 6380, 0, "u", "pw"}));
    EXPECT_EQ((*servers)[3].str(), "redis://[::1]:6380/0") << "no credentials in names";
}

TEST(RedisConfig, ABadUrlSaysWhatIsWrongWithoutShowingThePassword) {
    const std::pair<const char*, const char*> bad[] = {
        {"http://h:1", "does not start with redis://"},
        {"rediss://h:1", "TLS"},
        {"redis://h:0", "not a port"},
        {"redis://h:99999", "not a port"},
        {"redis://h:x", "not a port"},
        {"redis://h:", "not a port"},
        {"redis://h/x", "not a database number"},
        {"redis://:6379", "no host"},
        {"redis://h:1,", "an empty server"},
        {"redis://h:1,redis://h:1/0", "listed twice"},
        {"redis://user@h", "a user without a password"},
        {"redis://:secret%zz@h", "%-escape"},
        {"redis://[::1", "unclosed"},
    };
    for (const auto& [url, why] : bad) {
        std::string error;
        EXPECT_FALSE(parse_redis_urls(url, error)) << url;
        EXPECT_NE(error.find(why), std::string::npos) << url << ": " << error;
        EXPECT_EQ(error.find("secret"), std::string::npos) << error;
    }
}

TEST(RedisConfig, Durations) {
    EXPECT_EQ(parse_duration("1.5"), 1500ms);
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("2s"), 2000ms);
    EXPECT_EQ(parse_duration("10m"), 600'000ms);
    EXPECT_EQ(parse_duration("12h"), std::chrono::milliseconds(std::chrono::hours(12)));
    EXPECT_EQ(parse_duration("30d"), std::chrono::milliseconds(std::chrono::hours(720)));
    for (const char* bad : {"", "-1", "1x", "s", "1e9d", "nan", "1 s"})
        EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(RedisConfig, TheEnvironmentConfiguresTheTierAndABadValueTurnsItOffWithOneWarning) {
    {
        Env env{{"KCACHE_REDIS", "redis://127.0.0.1:7001,redis://127.0.0.1:7002/1"},
                {"KCACHE_REDIS_TTL", "2d"},
                {"KCACHE_REDIS_CONNECT_TIMEOUT", "50ms"},
                {"KCACHE_REDIS_TIMEOUT", "0.5"},
                {"KCACHE_REDIS_BACKOFF", "10s"},
                {"KCACHE_CACHE_LOCK_TIMEOUT", "90"},
                {"KCACHE_REDIS_SECRET", nullptr},
                {"KCACHE_REDIS_SECRET_FILE", nullptr}};
        const StoreConfig c = StoreConfig::from_environment();
        EXPECT_TRUE(c.warnings.empty()) << joined(c.warnings);
        ASSERT_TRUE(c.redis);
        EXPECT_EQ(c.redis->servers.size(), 2u);
        EXPECT_EQ(c.redis->ttl, std::chrono::hours(48));
        EXPECT_EQ(c.redis->connect_timeout, 50ms);
        EXPECT_EQ(c.redis->timeout, 500ms);
        EXPECT_EQ(c.redis->backoff, 10s);
        EXPECT_EQ(c.redis->lock_timeout, 90s);
        EXPECT_FALSE(c.redis->mac_key);
        EXPECT_EQ(make_tiers(c).back()->name(), "redis");
    }
    {
        Env env{{"KCACHE_REDIS", "redis://127.0.0.1:7001"},
                {"KCACHE_REDIS_TIMEOUT", "soon"},
                {"KCACHE_REDIS_SECRET", nullptr},
                {"KCACHE_REDIS_SECRET_FILE", nullptr}};
        const StoreConfig c = StoreConfig::from_environment();
        ASSERT_TRUE(c.redis) << "a bad tuning value keeps its default";
        EXPECT_EQ(c.redis->timeout, 1000ms);
        ASSERT_EQ(c.warnings.size(), 1u);
        EXPECT_NE(c.warnings[0].find("KCACHE_REDIS_TIMEOUT='soon'"), std::string::npos);
    }
    {
        Env env{{"KCACHE_REDIS", "127.0.0.1:6379"}};
        const StoreConfig c = StoreConfig::from_environment();
        EXPECT_FALSE(c.redis);
        ASSERT_EQ(c.warnings.size(), 1u) << joined(c.warnings);
        EXPECT_NE(c.warnings[0].find("KCACHE_REDIS: '127.0.0.1:6379' is not redis://"),
                  std::string::npos)
            << c.warnings[0];
        EXPECT_NE(c.warnings[0].find("the Redis tier is off"), std::string::npos);
        for (const auto& t : make_tiers(c))
            EXPECT_NE(t->name(), "redis");
    }
}

TEST(RedisConfig, ASecretThatProtectsNothingIsRefusedAndSoIsTheTier) {
    TempDir dir("secret");
    const fs::path file = dir.path() / "secret";
    { std::ofstream(file) << "s3cret value\n"; }
    ::chmod(file.c_str(), 0600);
    std::string error;
    auto key = redis_mac_key("", file, error);
    ASSERT_TRUE(key) << error;
    EXPECT_EQ(*key, Seal::key_from_secret("s3cret value"))
        << "the trailing newline is not part of it";
    EXPECT_NE(*key, Seal::key_from_secret("s3cret value\n"));

    ::chmod(file.c_str(), 0644);
    EXPECT_FALSE(redis_mac_key("", file, error));
    EXPECT_NE(error.find("mode 0644"), std::string::npos) << error;
    ::chmod(file.c_str(), 0620);
    EXPECT_FALSE(redis_mac_key("", file, error));
    EXPECT_NE(error.find("mode 0620"), std::string::npos) << error;
    ::chmod(file.c_str(), 0640);
    EXPECT_TRUE(redis_mac_key("", file, error)) << "a group may share a secret: " << error;

    EXPECT_FALSE(redis_mac_key("", dir.path() / "missing", error));
    EXPECT_NE(error.find("No such file"), std::string::npos) << error;
    EXPECT_FALSE(redis_mac_key("", dir.path(), error));
    EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
    { std::ofstream(dir.path() / "empty") << "\n"; }
    ::chmod((dir.path() / "empty").c_str(), 0600);
    EXPECT_FALSE(redis_mac_key("", dir.path() / "empty", error));
    EXPECT_NE(error.find("is empty"), std::string::npos) << error;

    const std::pair<std::pair<const char*, const char*>, const char*> refused[] = {
        {{"", nullptr}, "KCACHE_REDIS_SECRET is empty"},
        {{nullptr, ""}, "KCACHE_REDIS_SECRET_FILE is empty"},
        {{"x", "/dev/null"}, "both"},
    };
    for (const auto& [vars, why] : refused) {
        Env env{{"KCACHE_REDIS", "redis://127.0.0.1:7001"},
                {"KCACHE_REDIS_SECRET", vars.first},
                {"KCACHE_REDIS_SECRET_FILE", vars.second}};
        const StoreConfig c = StoreConfig::from_environment();
        EXPECT_FALSE(c.redis) << why;
        ASSERT_EQ(c.warnings.size(), 1u) << joined(c.warnings);
        EXPECT_NE(c.warnings[0].find(why), std::string::npos) << c.warnings[0];
        EXPECT_NE(c.warnings[0].find("the Redis tier is off"), std::string::npos);
    }
    ::chmod(file.c_str(), 0604);
    Env env{{"KCACHE_REDIS", "redis://127.0.0.1:7001"},
            {"KCACHE_REDIS_SECRET", nullptr},
            {"KCACHE_REDIS_SECRET_FILE", file.c_str()}};
    EXPECT_FALSE(StoreConfig::from_environment().redis) << "a secret others can read";
    ::chmod(file.c_str(), 0400);
    const StoreConfig c = StoreConfig::from_environment();
    ASSERT_TRUE(c.redis) << joined(c.warnings);
    EXPECT_EQ(c.redis->mac_key, Seal::key_from_secret("s3cret value"));
}

} // namespace
} // namespace kcache::test
