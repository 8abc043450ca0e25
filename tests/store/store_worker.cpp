// The store tests' worker: one process of a multi-process or fault test.
//
//   kcache_store_worker [--mount-ro] [--tmpfs BYTES] [--user UID] --dir DIR MODE [ARG]
//
// Setup, in this order, before anything else runs (the process is still single-threaded):
//   --mount-ro     a private mount namespace in which DIR is bind-mounted read-only
//   --tmpfs BYTES  a private mount namespace with a BYTES-sized tmpfs on DIR, filled up except
//                  for the store's directories
//   --user UID     drop to UID (group too)
// Modes:
//   library          `kcache run --device host` (the demo, through the process store at DIR),
//                    then every library example compiled for nvptx and amdgpu
//   scenario VARIANT the action-cache scenario (store_util.hpp) compiled and run on the host
// Prints what it computed and its store's counters as name=value lines. Exit status: 0 ok, 1 a
// wrong result or an error, 77 the setup is not possible here (the reason on stderr).
#include "store_util.hpp"

#include "demo.hpp" // tools/kcache
#include "kernels/library/library.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

namespace {

using namespace kcache;
namespace fs = std::filesystem;

int unavailable(const std::string& what) {
    std::cerr << "unavailable: " << what << ": " << std::strerror(errno) << "\n";
    return 77;
}

int private_mounts() {
    if (::unshare(CLONE_NEWNS) != 0)
        return unavailable("unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return unavailable("making / private");
    return 0;
}

int mount_read_only(const fs::path& dir) {
    if (int rc = private_mounts())
        return rc;
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
        return unavailable("bind-mounting " + dir.string());
    if (::mount(nullptr, dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
        return unavailable("remounting " + dir.string() + " read-only");
    return 0;
}

int mount_full_tmpfs(const fs::path& dir, const std::string& bytes) {
    if (int rc = private_mounts())
        return rc;
    const std::string options = "size=" + bytes + ",mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0)
        return unavailable("mounting a tmpfs on " + dir.string());
    // The store's directories, then a file that takes every byte left.
    for (const char* d : {"v1", "v1/cas", "v1/ac", "v1/tmp"})
        ::mkdir((dir / d).c_str(), 0700);
    const int fd = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT, 0600);
    static char block[4096];
    while (::write(fd, block, sizeof block) > 0) {
    }
    ::close(fd);
    return 0;
}

void print_stats(std::ostream& out, const store::Store& s) {
    const auto st = s.stats();
    out << "recalls=" << st.recalls << "\nrecall_stale=" << st.recall_stale
        << "\ncontent_hits=" << st.content_hits << "\npublished=" << st.published << "\n";
    for (const auto& [name, t] : st.tiers)
        out << name << "_hits=" << t.hits << "\n"
            << name << "_corrupt=" << t.corrupt << "\n"
            << name << "_errors=" << t.errors << "\n"
            << name << "_lock_waits=" << t.lock_waits << "\n"
            << name << "_bytes_written=" << t.bytes_written << "\n"
            << name << "_misses=" << t.misses << "\n"
            << name << "_rejected=" << t.rejected << "\n"
            << name << "_dropped=" << t.dropped << "\n"
            << name << "_backoffs=" << t.backoffs << "\n";
}

int library(const fs::path& dir) {
    ::setenv("KCACHE_CACHE_DIR", dir.c_str(), 1);
    std::ostringstream demo;
    const int rc = cli::run_demo(demo, "host");
    std::cout << demo.str();
    store::Store& s = store::process_store();
    kernels::KernelCompiler compiler(MethodTable::global(), "worker.library", &s);
    int bad = 0;
    for (const auto& info : kernels::register_all())
        for (Type tt : info.examples)
            for (TargetSpec spec : {TargetSpec{TargetKind::nvptx(), "sm_80", 2},
                                    TargetSpec{TargetKind::amdgpu(), "gfx90a", 2}}) {
                auto a = compiler.compile(Function::named(info.name), tt, spec);
                const bool ok =
                    a && !a->bytes.empty() && a->kind == spec.kind &&
                    (a->format == "cubin" || a->format == "ptx" || a->format == "hsaco");
                if (!ok)
                    std::cout << "BAD artifact: " << info.name << " " << to_string(spec) << "\n";
                bad += !ok;
            }
    std::cout << "demo_status=" << rc << "\n";
    print_stats(std::cout, s);
    return rc == 0 && bad == 0 ? 0 : 1;
}

int scenario(const fs::path& dir, const std::string& variant) {
    test::Scenario sc(variant);
    auto s = test::make_store(dir);
    kernels::KernelCache cache("worker.scenario", sc.table);
    kernels::KernelCompiler compiler(cache, s.get());
    const auto out = test::run_on_host(compiler, sc.k, 4);
    for (std::size_t i = 0; i < out.size(); ++i)
        std::cout << "out" << i << "=" << out[i] << "\n";
    print_stats(std::cout, *s);
    // What the store left in its directory (a private mount may hide it from the parent).
    for (const char* sub : {"tmp", "cas"}) {
        std::size_t files = 0;
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(dir / "v1" / sub, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            files += it->is_regular_file() && it->path().extension() != ".lock";
        std::cout << sub << "_files=" << files << "\n";
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    fs::path dir;
    std::string tmpfs;
    bool read_only = false;
    long uid = -1;
    std::size_t i = 0;
    for (; i < args.size() && args[i].starts_with("--"); ++i) {
        if (args[i] == "--mount-ro")
            read_only = true;
        else if (args[i] == "--tmpfs" && i + 1 < args.size())
            tmpfs = args[++i];
        else if (args[i] == "--user" && i + 1 < args.size())
            uid = std::stol(args[++i]);
        else if (args[i] == "--dir" && i + 1 < args.size())
            dir = args[++i];
        else {
            std::cerr << "bad option " << args[i] << "\n";
            return 2;
        }
    }
    if (dir.empty() || i >= args.size()) {
        std::cerr << "usage: kcache_store_worker [--mount-ro] [--tmpfs BYTES] [--user UID] --dir "
                     "DIR MODE [ARG]\n";
        return 2;
    }
    if (read_only)
        if (int rc = mount_read_only(dir))
            return rc;
    if (!tmpfs.empty())
        if (int rc = mount_full_tmpfs(dir, tmpfs))
            return rc;
    if (uid >= 0) {
        const gid_t gid = static_cast<gid_t>(uid);
        if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 ||
            ::setuid(static_cast<uid_t>(uid)) != 0)
            return unavailable("dropping to uid " + std::to_string(uid));
    }
    try {
        const std::string& mode = args[i];
        if (mode == "library")
            return library(dir);
        if (mode == "scenario" && i + 1 < args.size())
            return scenario(dir, args[i + 1]);
        std::cerr << "unknown mode " << mode << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
