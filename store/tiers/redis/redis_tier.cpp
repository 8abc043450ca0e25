#include "store/tiers/redis/redis_tier.hpp"

#include "core/log.hpp"

#include <unistd.h>

#include <cstring>
#include <random>
#include <thread>

namespace kcache::store {
namespace {

// Uploads go out in pipelines of about this many bytes, each within the operation timeout.
constexpr std::uint64_t kPipelineBytes = std::uint64_t(4) << 20;
// Content keys remembered as holding a bad value (to overwrite it), at most.
constexpr std::size_t kMaxBadKeys = 4096;

// Deletes the lock only if the caller still owns it: a holder whose lock expired and was taken
// by another machine must not release that one.
constexpr std::string_view kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

// Takes the lock unless the content entry is already there (ARGV[3] "1": its value is known bad,
// take the lock anyway), in one step, so that a waiter never locks what a holder just
// published: 1 taken, 2 the entry is there, 0 held by another.
constexpr std::string_view kAcquireScript =
    "if ARGV[3] == '0' and redis.call('EXISTS', KEYS[2]) == 1 then return 2 end "
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
    "return 0";

std::string owner_prefix() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0)
        std::strcpy(host, "unknown");
    std::random_device random;
    const std::uint64_t nonce = (std::uint64_t(random()) << 32) ^ random();
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(nonce));
    return std::string(host) + ":" + std::to_string(::getpid()) + ":" + hex;
}

std::vector<std::string> names_of(const std::vector<RedisAddress>& servers) {
    std::vector<std::string> names;
    for (const RedisAddress& a : servers)
        names.push_back(a.str());
    return names;
}

std::uint64_t size_of(const Artifact& a) {
    return a.bytes.size() + a.ptx.size() + a.notes.size() + 1024;
}

} // namespace

struct RedisTier::Upload {
    enum class Kind { Content, Action, Release };
    Kind kind = Kind::Content;
    std::size_t server = 0;
    std::string key;
    ContentKey content_key;                    // content, and the content an action names
    ArtifactPtr artifact;                      // content, action
    std::shared_ptr<const ActionEntry> action; // action
    std::string owner;                         // release
    bool replace = false;                      // content: overwrite a bad value
};

// Held while this process compiles a content key; or, when `owner` is empty, holding nothing:
// the entry appeared while waiting, and the caller reads it.
class RedisTier::Lock final : public CompileLock {
public:
    Lock(RedisTier& tier, std::size_t server, std::string key, std::string owner)
        : tier_(tier), server_(server), key_(std::move(key)), owner_(std::move(owner)) {}
    ~Lock() override {
        if (!owner_.empty())
            tier_.release(server_, std::move(key_), std::move(owner_));
    }

private:
    RedisTier& tier_;
    std::size_t server_;
    std::string key_, owner_;
};

std::size_t RedisTier::DigestHash::operator()(const Digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof h);
    return h;
}

std::string RedisTier::key_name(std::string_view kind, const Digest& digest) {
    std::string key = "kcache:v1:";
    key += kind;
    key += ':';
    key += digest.hex();
    return key;
}

RedisTier::RedisTier(RedisOptions options)
    : options_(std::move(options)),
      seal_(options_.mac_key ? Seal::mac(*options_.mac_key) : Seal::checksum()),
      ttl_seconds_(std::to_string(std::max<std::int64_t>(options_.ttl.count(), 1))),
      owner_prefix_(owner_prefix()), ring_(names_of(options_.servers)) {
    (void)log(); // made before this tier, so that it outlives it when statics go at exit
    const RedisLimits limits{options_.connect_timeout, options_.timeout, options_.max_value_bytes};
    for (const RedisAddress& a : options_.servers)
        servers_.push_back(std::make_unique<RedisServer>(a, limits, options_.backoff));
    queue_ = std::make_unique<WriteBehind<Upload>>(
        options_.queue_bytes, [this](std::vector<Upload>& batch) { drain(batch); });
}

RedisTier::~RedisTier() {
    queue_.reset(); // drains, while the servers are still here
}

void RedisTier::flush() {
    queue_->flush();
}

void RedisTier::note(std::string_view kind, const std::string& message) {
    {
        std::lock_guard lock(noted_mutex_);
        if (!noted_.emplace(kind).second) {
            log().debug("kcache store: Redis: {}", message);
            return;
        }
    }
    log().warn("kcache store: Redis: {}", message);
}

void RedisTier::count(RedisServer::Outcome outcome, const std::string& error) {
    switch (outcome) {
    case RedisServer::Outcome::Failed:
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        log().debug("kcache store: Redis operation failed: {}", error);
        break;
    case RedisServer::Outcome::Skipped:
        counters_.backoffs.fetch_add(1, std::memory_order_relaxed);
        break;
    case RedisServer::Outcome::Done:
        break;
    }
}

std::optional<RedisReply> RedisTier::fetch(const Digest& digest, const std::string& key) {
    RedisServer& server = *servers_[ring_.pick(digest)];
    const RedisCommand commands[] = {{"GET", key}, {"EXPIRE", key, ttl_seconds_}};
    std::vector<RedisReply> replies;
    std::string error;
    const auto outcome = server.run(commands, replies, error);
    count(outcome, error);
    if (outcome != RedisServer::Outcome::Done || replies[0].type() != RedisReply::Type::String) {
        counters_.misses.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
    }
    return replies[0];
}

void RedisTier::bad_value(const Digest& digest, const std::string& key, const std::string& why,
                          bool bad_seal) {
    const bool rejected = bad_seal && seal_.is_mac();
    (rejected ? counters_.rejected : counters_.corrupt).fetch_add(1, std::memory_order_relaxed);
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(bad_mutex_);
        if (bad_.size() >= kMaxBadKeys)
            bad_.clear();
        bad_.insert(digest);
    }
    log().debug("kcache store: Redis value {} not used: {}", key, why);
    note(rejected ? "rejected" : "corrupt", std::string(rejected ? "rejected" : "corrupt") +
                                                " values found (e.g. " + key + ": " + why +
                                                "); compiling instead");
}

bool RedisTier::take_bad(const Digest& digest) {
    std::lock_guard lock(bad_mutex_);
    return bad_.erase(digest) != 0;
}

bool RedisTier::known_bad(const Digest& digest) {
    std::lock_guard lock(bad_mutex_);
    return bad_.contains(digest);
}

ArtifactPtr RedisTier::get(const ContentKey& key) {
    const Digest digest = key.digest();
    const std::string name = key_name("cas", digest);
    auto value = fetch(digest, name);
    if (!value)
        return nullptr;
    auto decoded = decode_content(value->bytes(), key, seal_);
    if (!decoded) {
        bad_value(digest, name, decoded.error, decoded.bad_seal);
        return nullptr;
    }
    counters_.hits.fetch_add(1, std::memory_order_relaxed);
    counters_.bytes_read.fetch_add(value->bytes().size(), std::memory_order_relaxed);
    return std::move(decoded.value);
}

ActionHit RedisTier::get(const ActionKey& key) {
    const Digest digest = key.digest();
    const std::string name = key_name("ac", digest);
    auto value = fetch(digest, name);
    if (!value)
        return {};
    // The action entry, then the content entry it names.
    const auto bytes = value->bytes();
    const auto first = entry_size(bytes);
    if (!first || *first == bytes.size()) {
        bad_value(digest, name, "not an action entry followed by a content entry", false);
        return {};
    }
    auto action = decode_action(bytes.first(*first), key, seal_);
    if (!action) {
        bad_value(digest, name, "its action entry: " + action.error, action.bad_seal);
        return {};
    }
    auto content = decode_content(bytes.subspan(*first), action.value->content_key(), seal_);
    if (!content) {
        bad_value(digest, name, "its content entry: " + content.error, content.bad_seal);
        return {};
    }
    counters_.hits.fetch_add(1, std::memory_order_relaxed);
    counters_.bytes_read.fetch_add(bytes.size(), std::memory_order_relaxed);
    return {std::move(action.value), std::move(content.value)};
}

void RedisTier::upload(Upload u, std::uint64_t bytes) {
    if (!queue_->push(std::move(u), bytes)) {
        counters_.dropped.fetch_add(1, std::memory_order_relaxed);
        note("queue full", "the upload queue is full (" + std::to_string(options_.queue_bytes) +
                               " bytes); uploads are dropped until it drains");
    }
}

ArtifactPtr RedisTier::put(const ContentKey& key, ArtifactPtr artifact) {
    if (!artifact)
        return artifact;
    const Digest digest = key.digest();
    Upload u;
    u.kind = Upload::Kind::Content;
    u.server = ring_.pick(digest);
    u.key = key_name("cas", digest);
    u.content_key = key;
    u.artifact = artifact;
    u.replace = take_bad(digest);
    upload(std::move(u), size_of(*artifact));
    return artifact;
}

void RedisTier::put(const std::shared_ptr<const ActionEntry>& entry, const ArtifactPtr& content) {
    if (!entry || !content)
        return; // an action entry travels with its content, or not at all
    const Digest digest = entry->key.digest();
    Upload u;
    u.kind = Upload::Kind::Action;
    u.server = ring_.pick(digest);
    u.key = key_name("ac", digest);
    u.content_key = entry->content_key();
    u.artifact = content;
    u.action = entry;
    upload(std::move(u), size_of(*content));
}

void RedisTier::release(std::size_t server, std::string key, std::string owner) {
    Upload u;
    u.kind = Upload::Kind::Release;
    u.server = server;
    u.key = std::move(key);
    u.owner = std::move(owner);
    queue_->push(std::move(u), 0, /*bounded=*/false); // behind this process's uploads
}

void RedisTier::drain(std::vector<Upload>& batch) {
    // Per server, in the order they were queued (a lock's release after its content).
    std::vector<std::vector<Upload*>> by_server(servers_.size());
    for (Upload& u : batch)
        by_server[u.server].push_back(&u);
    for (std::size_t s = 0; s < servers_.size(); ++s)
        if (!by_server[s].empty())
            send(s, by_server[s]);
}

void RedisTier::send(std::size_t server, std::vector<Upload*>& uploads) {
    std::vector<std::vector<std::uint8_t>> values;
    std::vector<RedisCommand> commands;
    std::vector<Upload*> sent;
    std::vector<RedisReply> replies;
    std::size_t next = 0;
    while (next < uploads.size()) {
        values.clear();
        commands.clear();
        sent.clear();
        std::uint64_t bytes = 0;
        for (; next < uploads.size() && (sent.empty() || bytes < kPipelineBytes); ++next) {
            Upload& u = *uploads[next];
            if (u.kind == Upload::Kind::Release) {
                commands.push_back({"EVAL", kReleaseScript, "1", u.key, u.owner});
                sent.push_back(&u);
                continue;
            }
            std::vector<std::uint8_t> value =
                u.kind == Upload::Kind::Content ? encode_content(u.content_key, *u.artifact, seal_)
                                                : encode_action(*u.action, seal_);
            if (u.kind == Upload::Kind::Action) {
                const auto content = encode_content(u.content_key, *u.artifact, seal_);
                value.insert(value.end(), content.begin(), content.end());
            }
            if (value.size() > options_.max_value_bytes) {
                counters_.dropped.fetch_add(1, std::memory_order_relaxed);
                note("value limit", "an entry of " + std::to_string(value.size()) +
                                        " bytes is over the Redis value limit of " +
                                        std::to_string(options_.max_value_bytes) +
                                        " bytes; not uploaded");
                continue;
            }
            bytes += value.size();
            values.push_back(std::move(value)); // its bytes stay put when `values` grows
            const std::string_view v = as_arg(values.back());
            if (u.kind == Upload::Kind::Content && !u.replace)
                commands.push_back({"SET", u.key, v, "NX", "EX", ttl_seconds_});
            else
                commands.push_back({"SET", u.key, v, "EX", ttl_seconds_});
            sent.push_back(&u);
        }
        if (commands.empty())
            continue;
        std::string error;
        const auto outcome = servers_[server]->run(commands, replies, error);
        count(outcome, error);
        if (outcome != RedisServer::Outcome::Done) {
            // Lost uploads are misses later; a lost release lets the lock expire by itself.
            for (const Upload* u : sent)
                if (u->kind != Upload::Kind::Release)
                    counters_.dropped.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        for (std::size_t i = 0; i < sent.size(); ++i)
            if (sent[i]->kind != Upload::Kind::Release && replies[i].is_ok())
                counters_.bytes_written.fetch_add(commands[i][2].size(), std::memory_order_relaxed);
    }
}

std::unique_ptr<CompileLock> RedisTier::lock(const ContentKey& key) {
    const Digest digest = key.digest();
    const std::size_t index = ring_.pick(digest);
    RedisServer& server = *servers_[index];
    const std::string lock_key = key_name("lock", digest);
    const std::string content_key = key_name("cas", digest);
    const std::string owner =
        owner_prefix_ + ":" + std::to_string(lock_counter_.fetch_add(1, std::memory_order_relaxed));
    const std::string ttl_ms =
        std::to_string(std::max<std::int64_t>(options_.lock_timeout.count(), 1));
    const auto deadline = std::chrono::steady_clock::now() + options_.lock_timeout;
    auto pause = std::chrono::milliseconds(2);
    std::vector<RedisReply> replies;
    for (bool waited = false;; waited = true) {
        const RedisCommand commands[] = {{"EVAL", kAcquireScript, "2", lock_key, content_key, owner,
                                          ttl_ms, known_bad(digest) ? "1" : "0"}};
        std::string error;
        const auto outcome = server.run(commands, replies, error);
        count(outcome, error);
        if (outcome != RedisServer::Outcome::Done)
            return nullptr; // compile without it
        if (replies[0].integer() == 1)
            return std::make_unique<Lock>(*this, index, lock_key, owner);
        if (replies[0].integer() == 2) // published meanwhile: read it
            return std::make_unique<Lock>(*this, index, std::string(), std::string());
        if (!waited)
            counters_.lock_waits.fetch_add(1, std::memory_order_relaxed);
        if (std::chrono::steady_clock::now() + pause >= deadline) {
            counters_.lock_timeouts.fetch_add(1, std::memory_order_relaxed);
            note("lock timeout", "another machine compiling the same code held its lock past the " +
                                     std::to_string(options_.lock_timeout.count()) +
                                     " ms timeout; compiling here too");
            return nullptr;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

TierStats RedisTier::stats() const {
    TierStats s = counters_.snapshot();
    for (const auto& server : servers_) { // connections and their timeouts are the servers'
        const RedisServer::Counts c = server->counts();
        s.connects += c.connects;
        s.connect_timeouts += c.connect_timeouts;
        s.timeouts += c.timeouts;
    }
    return s;
}

} // namespace kcache::store
