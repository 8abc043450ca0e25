#include "store/tiers/redis/redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace kcache::store {
namespace {

using Clock = std::chrono::steady_clock;

// No reply kcache asks for is an array of more than a few elements; a server announcing a huge
// one would have hiredis allocate it before a single element arrives.
constexpr int kMaxArrayElements = 1 << 16;

redisReplyObjectFunctions* hiredis_functions = nullptr;
redisReplyObjectFunctions guarded_functions;

void* create_array(const redisReadTask* task, int elements) {
    if (elements > kMaxArrayElements)
        return nullptr; // hiredis reports it as an error ("Out of memory") and stops reading
    return hiredis_functions->createArray(task, elements);
}

// hiredis's own reply functions (one static table in the library), with arrays bounded.
redisReplyObjectFunctions* guarded(redisReplyObjectFunctions* defaults) {
    static std::once_flag once;
    std::call_once(once, [defaults] {
        hiredis_functions = defaults;
        guarded_functions = *defaults;
        guarded_functions.createArray = create_array;
    });
    return &guarded_functions;
}

timeval to_timeval(std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000),
                   static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// Blocks SIGPIPE on this thread for its lifetime, and takes back one that a write to a closed
// socket raised meanwhile (unless one was pending before), so that a server going away is an
// error return, never a signal that ends the process.
class SigpipeBlock {
public:
    SigpipeBlock() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        ::sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeBlock() {
        if (!was_pending_) {
            sigset_t pending;
            sigemptyset(&pending);
            ::sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                const timespec zero{0, 0};
                while (::sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
                }
            }
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;

private:
    sigset_t pipe_, old_;
    bool was_pending_ = false;
};

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
        if (n > 0)
            return true; // ready, or an error that the read or write will report
        if (n < 0 && errno != EINTR)
            return true;
    }
}

} // namespace

RedisReply::RedisReply(std::shared_ptr<const redisReply> root, const redisReply* node)
    : root_(std::move(root)), node_(node) {
    if (!node_)
        return;
    switch (node_->type) {
    case REDIS_REPLY_STRING:
        type_ = Type::String;
        break;
    case REDIS_REPLY_STATUS:
        type_ = Type::Status;
        break;
    case REDIS_REPLY_ERROR:
        type_ = Type::Error;
        break;
    case REDIS_REPLY_INTEGER:
        type_ = Type::Integer;
        break;
    case REDIS_REPLY_ARRAY:
        type_ = Type::Array;
        break;
    default:
        type_ = Type::Nil;
        break;
    }
    if (type_ == Type::String || type_ == Type::Status || type_ == Type::Error)
        text_ = std::string_view(node_->str, node_->len);
    integer_ = node_->integer;
    size_ = type_ == Type::Array ? node_->elements : 0;
}

RedisReply RedisReply::adopt(redisReply* reply) {
    if (!reply)
        return RedisReply();
    std::shared_ptr<const redisReply> root(
        reply, [](const redisReply* r) { freeReplyObject(const_cast<redisReply*>(r)); });
    return RedisReply(root, reply);
}

RedisReply RedisReply::element(std::size_t i) const {
    return RedisReply(root_, node_->element[i]);
}

void RedisConnection::ContextFree::operator()(redisContext* c) const {
    redisFree(c);
}

RedisConnection::RedisConnection(std::unique_ptr<redisContext, ContextFree> context,
                                 RedisLimits limits)
    : context_(std::move(context)), limits_(limits) {}

RedisConnection::~RedisConnection() = default;

std::unique_ptr<RedisConnection> RedisConnection::connect(const RedisAddress& address,
                                                          const RedisLimits& limits,
                                                          std::string& error,
                                                          RedisTimeout* timed_out) {
    if (timed_out)
        *timed_out = RedisTimeout::None;
    std::unique_ptr<redisContext, ContextFree> c(redisConnectWithTimeout(
        address.host.c_str(), address.port, to_timeval(limits.connect_timeout)));
    const int connect_errno = errno; // hiredis 0.14 reports its poll timing out as ETIMEDOUT
    if (!c) {
        error = "cannot connect: out of memory";
        return nullptr;
    }
    if (c->err) {
        if (c->err == REDIS_ERR_IO && connect_errno == ETIMEDOUT) {
            error = "cannot connect: no connection within " +
                    std::to_string(limits.connect_timeout.count()) + " ms";
            if (timed_out)
                *timed_out = RedisTimeout::Connect;
        } else {
            error = std::string("cannot connect: ") + c->errstr;
        }
        return nullptr;
    }
    // Every new context gets the timeout (hiredis 0.14's redisReconnect would drop it).
    if (redisSetTimeout(c.get(), to_timeval(limits.timeout)) != REDIS_OK) {
        error = std::string("cannot set the timeout: ") + c->errstr;
        return nullptr;
    }
    c->reader->fn = guarded(c->reader->fn);
    std::unique_ptr<RedisConnection> conn(new RedisConnection(std::move(c), limits));

    std::vector<RedisCommand> setup;
    const std::string db = std::to_string(address.db);
    if (!address.password.empty()) {
        if (address.user.empty())
            setup.push_back({"AUTH", address.password});
        else
            setup.push_back({"AUTH", address.user, address.password});
    }
    if (address.db != 0)
        setup.push_back({"SELECT", db});
    std::vector<RedisReply> replies;
    if (!setup.empty() && !conn->pipeline(setup, replies, error)) {
        if (timed_out && conn->timed_out())
            *timed_out = RedisTimeout::Operation;
        return nullptr;
    }
    for (std::size_t i = 0; i < replies.size(); ++i)
        if (!replies[i].is_ok()) {
            error = std::string(setup[i][0] == "AUTH" ? "AUTH" : "SELECT " + db) +
                    " failed: " + std::string(replies[i].text().substr(0, 200));
            return nullptr;
        }
    return conn;
}

bool RedisConnection::fail(std::string& error, const std::string& what, bool timed_out) {
    broken_ = true;
    timed_out_ = timed_out;
    error = what;
    return false;
}

bool RedisConnection::pipeline(std::span<const RedisCommand> commands,
                               std::vector<RedisReply>& replies, std::string& error) {
    replies.clear();
    if (broken_)
        return fail(error, "the connection failed earlier");
    redisContext* c = context_.get();
    const auto deadline = Clock::now() + limits_.timeout;
    const std::string timed_out =
        "no answer within " + std::to_string(limits_.timeout.count()) + " ms";
    SigpipeBlock no_sigpipe;

    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const RedisCommand& command : commands) {
        argv.clear();
        lengths.clear();
        for (std::string_view arg : command) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
            REDIS_OK)
            return fail(error, std::string("cannot format a command: ") + c->errstr);
    }
    for (int done = 0; !done;) {
        if (!wait_for(c->fd, POLLOUT, deadline))
            return fail(error, timed_out + " (sending)", true);
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return fail(error, c->errstr);
    }
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* reply = nullptr;
        for (;;) {
            if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
                return fail(error, std::string("bad reply: ") + c->errstr);
            if (reply)
                break;
            if (c->reader->len - c->reader->pos > limits_.max_reply_bytes + 1024)
                return fail(error,
                            "a reply over " + std::to_string(limits_.max_reply_bytes) + " bytes");
            if (!wait_for(c->fd, POLLIN, deadline))
                return fail(error, timed_out, true);
            if (redisBufferRead(c) != REDIS_OK)
                return fail(error, c->errstr);
        }
        replies.push_back(RedisReply::adopt(static_cast<redisReply*>(reply)));
    }
    return true;
}

RedisReply RedisConnection::command(const RedisCommand& command, bool& ok, std::string& error) {
    std::vector<RedisReply> replies;
    ok = pipeline(std::span<const RedisCommand>(&command, 1), replies, error);
    return ok ? replies.front() : RedisReply();
}

} // namespace kcache::store
