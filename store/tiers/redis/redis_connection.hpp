// One connection to a Redis server over hiredis 0.14 (Debian's libhiredis), and its replies.
//
// A connection is made with redisConnectWithTimeout and given its operation timeout with
// redisSetTimeout (SO_RCVTIMEO / SO_SNDTIMEO). hiredis 0.14's redisReconnect forgets that
// timeout, so a connection that failed is never reconnected: it is thrown away and a new one
// made (RedisServer, store/tiers/redis/redis_server.hpp), which sets the timeout again.
//
// Commands go out pipelined (redisAppendCommandArgv, then one reply per command). The replies
// are read by hand rather than with redisGetReply, so that the whole exchange has a deadline
// (the operation timeout bounds each read, the deadline the sum of them: a server trickling
// bytes cannot hold a compilation) and a size limit (a reply is never buffered past
// max_reply_bytes, and an array announcing more than a few elements is refused before hiredis
// allocates it). A write to a server that went away raises no SIGPIPE: it is blocked on the
// writing thread for the call and a pending one is taken back.
//
// Thread-safety: a connection is used by one thread at a time; RedisReply values are immutable
// and may be shared.
#pragma once

#include "store/config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace kcache::store {

/// A reply, or an element of one (sharing its ownership).
class RedisReply {
public:
    enum class Type { Nil, String, Status, Integer, Error, Array };
    /// A nil reply.
    RedisReply() = default;
    Type type() const { return type_; }
    /// String, status and error replies.
    std::string_view text() const { return text_; }
    std::span<const std::uint8_t> bytes() const {
        return {reinterpret_cast<const std::uint8_t*>(text_.data()), text_.size()};
    }
    long long integer() const { return integer_; }
    std::size_t size() const { return size_; }
    /// Element `i` of an array reply (i < size()).
    RedisReply element(std::size_t i) const;
    bool is_ok() const { return type_ == Type::Status && text_ == "OK"; }

    /// Takes ownership of a reply hiredis returned (nullptr: nil).
    static RedisReply adopt(redisReply* reply);

private:
    RedisReply(std::shared_ptr<const redisReply> root, const redisReply* node);
    std::shared_ptr<const redisReply> root_;
    const redisReply* node_ = nullptr;
    Type type_ = Type::Nil;
    std::string_view text_;
    long long integer_ = 0;
    std::size_t size_ = 0;
};

/// A command's arguments (binary-safe views; the caller keeps the bytes alive).
using RedisCommand = std::vector<std::string_view>;

/// `bytes` as a command argument.
inline std::string_view as_arg(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// Which timeout ended a failed connect, if one did.
enum class RedisTimeout {
    None,
    Connect,   ///< no connection within the connect timeout
    Operation, ///< connected, but AUTH or SELECT not answered within the operation timeout
};

struct RedisLimits {
    std::chrono::milliseconds connect_timeout{100};
    std::chrono::milliseconds timeout{1000};
    std::uint64_t max_reply_bytes = std::uint64_t(64) << 20;
};

/// Thread-safety: one thread at a time.
class RedisConnection {
public:
    /// Connects, sets the operation timeout, authenticates and selects the database. nullptr,
    /// with the reason in `error` (and in `timed_out`, when given, the timeout that ended it),
    /// on failure.
    static std::unique_ptr<RedisConnection> connect(const RedisAddress& address,
                                                    const RedisLimits& limits, std::string& error,
                                                    RedisTimeout* timed_out = nullptr);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Sends `commands` in one write and reads their replies (error replies are replies: the
    /// caller decides). false, with the reason in `error`, on an I/O error, a timeout, a reply
    /// over the size limit or a protocol error; the connection is unusable after that.
    bool pipeline(std::span<const RedisCommand> commands, std::vector<RedisReply>& replies,
                  std::string& error);

    /// Whether the exchange that broke this connection ran out of the operation timeout.
    bool timed_out() const { return timed_out_; }

    /// One command; a false `ok` leaves the reason in `error`.
    RedisReply command(const RedisCommand& command, bool& ok, std::string& error);

private:
    struct ContextFree {
        void operator()(redisContext* c) const;
    };
    RedisConnection(std::unique_ptr<redisContext, ContextFree> context, RedisLimits limits);
    bool fail(std::string& error, const std::string& what, bool timed_out = false);

    std::unique_ptr<redisContext, ContextFree> context_;
    RedisLimits limits_;
    bool broken_ = false;
    bool timed_out_ = false;
};

} // namespace kcache::store
