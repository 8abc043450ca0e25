#include "test_redis.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace kcache::test {
namespace {

std::string find_redis_server() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
        const std::string p = std::string(dir) + "/redis-server";
        if (::access(p.c_str(), X_OK) == 0)
            return p;
    }
    throw std::runtime_error("redis-server is not installed (Debian's redis-server package; "
                             "scripts/setup.sh installs it): the Redis tests need it");
}

} // namespace

int TestRedis::free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error(std::string("no free loopback port: ") + std::strerror(errno));
    ::close(fd);
    return ntohs(a.sin_port);
}

TestRedis::TestRedis() {
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        try {
            launch();
            return;
        } catch (const std::runtime_error&) {
            // Another process may have taken the port between free_port() and the bind.
            if (attempt == 4 || log_.find("Address already in use") == std::string::npos)
                throw;
        }
    }
}

TestRedis::~TestRedis() {
    kill();
}

std::string TestRedis::url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
}

void TestRedis::launch() {
    const std::string exe = find_redis_server();
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {exe,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_.path().string(),
                                     "--daemonize",
                                     "no",
                                     "--logfile",
                                     "",
                                     "--loglevel",
                                     "notice"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    const int rc = posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        pid_ = -1;
        throw std::runtime_error("cannot start " + exe + ": " + std::strerror(rc));
    }
    {
        std::lock_guard lock(mutex_);
        ready_ = exited_ = false;
        log_.clear();
    }
    const int fd = out[0];
    reader_ = std::thread([this, fd] {
        char buf[4096];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            std::lock_guard lock(mutex_);
            if (n <= 0) {
                exited_ = true;
                changed_.notify_all();
                break;
            }
            log_.append(buf, static_cast<std::size_t>(n));
            if (log_.size() > (1 << 16))
                log_.erase(0, log_.size() - (1 << 15));
            if (!ready_ && log_.find("Ready to accept connections") != std::string::npos) {
                ready_ = true;
                changed_.notify_all();
            }
        }
        ::close(fd);
    });
    std::unique_lock lock(mutex_);
    const bool answered =
        changed_.wait_for(lock, std::chrono::seconds(20), [&] { return ready_ || exited_; });
    if (!ready_) {
        const std::string why = answered ? "exited" : "was not ready within 20 s";
        lock.unlock();
        kill();
        throw std::runtime_error("redis-server on port " + std::to_string(port_) + " " + why +
                                 ": " + log_);
    }
}

void TestRedis::kill() {
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }
    if (reader_.joinable())
        reader_.join(); // the pipe closes with the process
}

void TestRedis::start() {
    kill();
    launch();
}

void TestRedis::pause() {
    ::kill(pid_, SIGSTOP);
    int status = 0; // the stop has happened once waitpid reports it
    while (::waitpid(pid_, &status, WUNTRACED) < 0 && errno == EINTR) {
    }
}

void TestRedis::resume() {
    ::kill(pid_, SIGCONT);
}

store::RedisReply TestRedis::command(const store::RedisCommand& command) const {
    std::string error;
    auto conn = store::RedisConnection::connect(
        address(), {std::chrono::seconds(5), std::chrono::seconds(10), std::uint64_t(1) << 30},
        error);
    if (!conn)
        throw std::runtime_error("raw client: " + error);
    bool ok = false;
    auto reply = conn->command(command, ok, error);
    if (!ok)
        throw std::runtime_error("raw client: " + error);
    return reply;
}

long long TestRedis::calls(const std::string& name) const {
    const auto info = command({"INFO", "commandstats"});
    const std::string text(info.text());
    const std::string key = "cmdstat_" + name + ":calls=";
    const auto at = text.find(key);
    return at == std::string::npos ? 0 : std::stoll(text.substr(at + key.size()));
}

std::vector<std::string> TestRedis::keys(const std::string& pattern) const {
    const auto reply = command({"KEYS", pattern});
    std::vector<std::string> out;
    for (std::size_t i = 0; i < reply.size(); ++i)
        out.emplace_back(reply.element(i).text());
    return out;
}

} // namespace kcache::test
