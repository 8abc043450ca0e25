#include "process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kcache::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

} // namespace

Process::Process(std::vector<std::string> argv, const std::vector<std::string>& env,
                 const std::filesystem::path& scratch) {
    static std::atomic<int> counter{0};
    const std::string id = std::to_string(counter.fetch_add(1));
    out_ = scratch / ("stdout." + id);
    err_ = scratch / ("stderr." + id);

    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
        std::string v = *e;
        bool replaced = false;
        for (const auto& x : env)
            replaced |= v.substr(0, v.find('=') + 1) == x.substr(0, x.find('=') + 1);
        if (!replaced)
            vars.push_back(std::move(v));
    }
    vars.insert(vars.end(), env.begin(), env.end());
    std::vector<char*> envp, args;
    for (auto& v : vars)
        envp.push_back(v.data());
    envp.push_back(nullptr);
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data()) != 0)
        pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
}

Process::~Process() {
    if (!waited_)
        wait();
}

ProcessResult Process::wait() {
    ProcessResult r;
    if (pid_ > 0 && !waited_) {
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    waited_ = true;
    r.out = slurp(out_);
    r.err = slurp(err_);
    return r;
}

ProcessResult run_process(std::vector<std::string> argv, const std::vector<std::string>& env,
                          const std::filesystem::path& scratch) {
    return Process(std::move(argv), env, scratch).wait();
}

long long stat_of(const std::string& out, const std::string& name) {
    const std::string key = "\n" + name + "=";
    const std::string text = "\n" + out;
    const auto at = text.find(key);
    if (at == std::string::npos)
        return -1;
    return std::stoll(text.substr(at + key.size()));
}

} // namespace kcache::test
