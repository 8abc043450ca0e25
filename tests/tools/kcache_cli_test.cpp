// The `kcache` command run as a user runs it: the built binary spawned (posix_spawn, no shell)
// with a store directory of the test's own, its standard output and error captured, its exit
// status checked, and --json output parsed.
#include "elf_util.hpp"

#include <llvm/BinaryFormat/ELF.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

extern char** environ;

namespace kcache::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Result {
    int status = -1;
    std::string out, err;
    Json json() const {
        try {
            return Json::parse(out);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not JSON: " << e.what() << "\n" << out.substr(0, 500);
            return Json();
        }
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

struct Spawn {
    std::vector<std::string> env; ///< NAME=VALUE, replacing the inherited one
    std::string stdout_path;      ///< default: a file of the test's
    std::string stdin_path = "/dev/null";
};

class Cli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("kcache-cli-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        store_ = dir_ / "store";
    }
    void TearDown() override { fs::remove_all(dir_); }

    Result run(std::vector<std::string> args, Spawn spawn = {}) {
        args.insert(args.begin(), KCACHE_CLI_PATH);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        // The inherited environment, with this test's store and the overrides.
        std::vector<std::string> env{"KCACHE_CACHE_DIR=" + store_.string()};
        for (const std::string& e : spawn.env)
            env.push_back(e);
        for (char** e = environ; *e; ++e) {
            const std::string var(*e);
            const std::string name = var.substr(0, var.find('='));
            bool replaced = false;
            for (const std::string& o : env)
                replaced |= o.substr(0, o.find('=')) == name;
            if (!replaced)
                env.push_back(var);
        }
        std::vector<char*> envp;
        for (auto& e : env)
            envp.push_back(e.data());
        envp.push_back(nullptr);

        const std::string out =
            spawn.stdout_path.empty() ? (dir_ / "stdout").string() : spawn.stdout_path;
        const std::string err = (dir_ / "stderr").string();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, spawn.stdin_path.c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
        pid_t pid;
        Result r;
        if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) == 0) {
            int status = 0;
            waitpid(pid, &status, 0);
            r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        posix_spawn_file_actions_destroy(&actions);
        if (spawn.stdout_path.empty())
            r.out = slurp(out);
        r.err = slurp(err);
        return r;
    }

    // The entry files under the store, by relative path.
    std::vector<fs::path> entry_files(const char* kind) const {
        std::vector<fs::path> files;
        const fs::path root = store_ / "v1" / kind;
        if (fs::exists(root))
            for (const auto& e : fs::recursive_directory_iterator(root))
                if (e.is_regular_file())
                    files.push_back(e.path());
        return files;
    }

    fs::path dir_, store_;
};

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream s(text);
    for (std::string line; std::getline(s, line);)
        out.push_back(line);
    return out;
}

// --- listing ---------------------------------------------------------------------------------

TEST_F(Cli, KernelsListsEveryKernelWithItsSignature) {
    Result r = run({"kernels"});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* k : {"fill", "copy", "vadd", "saxpy", "reduce_sum", "softmax_rows",
                          "transpose", "matmul", "matmul_tiled", "axpby_ir"})
        EXPECT_NE(r.out.find(std::string(k) + "\n"), std::string::npos) << k;
    EXPECT_NE(r.out.find("saxpy(::T, ::Ptr{T}, ::Ptr{T}, ::Int32) where T<:AbstractFloat"),
              std::string::npos)
        << r.out;
    Result json = run({"kernels", "--json"});
    ASSERT_EQ(json.status, 0) << json.err;
    std::set<std::string> names;
    const Json listed = json.json();
    for (const auto& k : listed["kernels"])
        names.insert(k["name"].get<std::string>());
    EXPECT_EQ(names.size(), 10u);
    EXPECT_TRUE(names.count("matmul_tiled"));
    EXPECT_EQ(run({"kernels", "extra"}).status, 2);
}

TEST_F(Cli, EveryCommandHasHelp) {
    for (std::vector<std::string> cmd : {std::vector<std::string>{},
                                         {"version"},
                                         {"targets"},
                                         {"devices"},
                                         {"kernels"},
                                         {"compile"},
                                         {"warm"},
                                         {"run"},
                                         {"cache"},
                                         {"cache", "path"},
                                         {"cache", "stats"},
                                         {"cache", "ls"},
                                         {"cache", "show"},
                                         {"cache", "verify"},
                                         {"cache", "prune"},
                                         {"cache", "clear"}}) {
        cmd.push_back("--help");
        Result r = run(cmd);
        EXPECT_EQ(r.status, 0) << cmd.front() << ": " << r.err;
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << cmd.front();
        EXPECT_TRUE(r.err.empty()) << r.err;
    }
    Result compile = run({"compile", "--help"});
    for (const char* opt : {"--types", "--target", "--arch", "--emit", "--ir", "--kernel", "-o",
                            "-v,--verbose", "cubin", "hsaco"})
        EXPECT_NE(compile.out.find(opt), std::string::npos) << opt;
    Result none = run({});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("Usage:"), std::string::npos);
}

// Every variable the sources read is documented in `kcache --help` and in the README.
TEST_F(Cli, HelpAndReadmeListEveryEnvironmentVariable) {
    std::set<std::string> names{"CUDA_HOME"};
    const std::regex var("\"(KCACHE_[A-Z_]+)\"");
    for (const char* layer : {"core", "targets", "kernels", "store", "runtime", "tools"})
        for (const auto& e : fs::recursive_directory_iterator(fs::path(KCACHE_SOURCE_DIR) / layer))
            if (e.path().extension() == ".cpp" || e.path().extension() == ".hpp") {
                const std::string text = slurp(e.path());
                for (std::sregex_iterator it(text.begin(), text.end(), var), end; it != end; ++it)
                    names.insert((*it)[1]);
            }
    ASSERT_GT(names.size(), 8u);
    Result help = run({"--help"});
    ASSERT_EQ(help.status, 0);
    const std::string readme = slurp(fs::path(KCACHE_SOURCE_DIR) / "README.md");
    for (const std::string& n : names) {
        EXPECT_NE(help.out.find("  " + n + " "), std::string::npos) << n << " not in --help";
        EXPECT_NE(readme.find("`" + n + "`"), std::string::npos) << n << " not in the README";
    }
}

TEST_F(Cli, InvalidLogLevelIsAWarning) {
    Result r = run({"kernels"}, {.env = {"KCACHE_LOG=loud"}});
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.err.find("KCACHE_LOG='loud' is not a level"), std::string::npos) << r.err;
}

TEST_F(Cli, VersionNamesTheToolchainAndTheSchema) {
    Result r = run({"--version"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("kcache 0."), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("store schema"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("LLVM         19."), std::string::npos) << r.out;
    for (const char* tool : {"lld", "CUDA toolkit", "libdevice", "nvJitLink"})
        EXPECT_NE(r.out.find(tool), std::string::npos) << tool;

    // A toolkit named by the environment is where nvJitLink is loaded from, and the path checked
    // is named when it is wrong.
    const std::string nowhere = (dir_ / "no-cuda").string();
    Result wrong = run({"version", "--json"}, {.env = {"KCACHE_CUDA_HOME=" + nowhere}});
    ASSERT_EQ(wrong.status, 0) << wrong.err;
    Json v = wrong.json();
    EXPECT_EQ(v["store_schema"], 2);
    bool saw_jit = false;
    for (const auto& c : v["toolchain"]) {
        if (c["name"] == "LLVM")
            EXPECT_TRUE(c["found"].get<bool>());
        if (c["name"] == "nvJitLink") {
            saw_jit = true;
            EXPECT_FALSE(c["found"].get<bool>());
            EXPECT_NE(c["note"].get<std::string>().find(nowhere + "/lib64/libnvJitLink.so"),
                      std::string::npos)
                << c.dump();
        }
    }
    EXPECT_TRUE(saw_jit);
}

TEST_F(Cli, TargetsMarkTheArchsThisToolchainCannotFinish) {
    Result r = run({"targets", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::map<std::string, Json> targets;
    const Json all = r.json();
    for (const auto& t : all["targets"])
        targets[t["name"].get<std::string>()] = t;
    ASSERT_TRUE(targets.count("nvptx") && targets.count("amdgpu") && targets.count("host"));
    std::map<std::string, Json> archs;
    for (const auto& a : targets["nvptx"]["archs"])
        archs[a["arch"].get<std::string>()] = a;
    ASSERT_TRUE(archs.count("sm_80") && archs.count("sm_50"));
    for (const auto& a : targets["amdgpu"]["archs"])
        EXPECT_TRUE(a["complete"].get<bool>()) << a.dump(); // lld is linked in: always there

    Result version = run({"version", "--json"});
    int jit_major = 0;
    const Json v = version.json();
    for (const auto& c : v["toolchain"])
        if (c["name"] == "nvJitLink" && c["found"].get<bool>())
            jit_major = std::atoi(c["version"].get<std::string>().c_str());
    if (jit_major == 0) {
        EXPECT_FALSE(archs["sm_80"]["complete"].get<bool>()); // PTX only everywhere
        GTEST_SKIP() << "no nvJitLink here: every nvptx arch is PTX only";
    }
    EXPECT_TRUE(archs["sm_80"]["complete"].get<bool>()) << archs["sm_80"].dump();
    EXPECT_TRUE(archs["sm_90"]["complete"].get<bool>());
    if (jit_major >= 13) { // CUDA 13 dropped Maxwell, Pascal and Volta
        for (const char* old : {"sm_50", "sm_60", "sm_70", "sm_72"}) {
            EXPECT_FALSE(archs[old]["complete"].get<bool>()) << old;
            EXPECT_NE(archs[old]["problem"].get<std::string>().find("no cubin"), std::string::npos);
        }
        Result text = run({"targets"});
        EXPECT_NE(text.out.find("incomplete on this machine"), std::string::npos) << text.out;
    }
}

TEST_F(Cli, DevicesListsTheHost) {
    Result r = run({"devices", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    bool host = false;
    const Json all = r.json();
    for (const auto& d : all["drivers"])
        if (d["driver"] == "host") {
            host = true;
            EXPECT_TRUE(d["present"].get<bool>());
            ASSERT_EQ(d["devices"].size(), 1u);
            EXPECT_NE(d["devices"][0]["target"].get<std::string>().find("host:"),
                      std::string::npos);
        }
    EXPECT_TRUE(host);
}

// --- compile ---------------------------------------------------------------------------------

TEST_F(Cli, CompileWithNoFlagsWritesPtxToStdout) {
    Result r = run({"compile", "saxpy"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(".target sm_80"), std::string::npos) << r.out.substr(0, 300);
    EXPECT_NE(r.out.find(".entry kcache_kernel"), std::string::npos);
    EXPECT_TRUE(r.err.empty()) << r.err;

    Result f64 = run({"compile", "saxpy", "--types", "Float64,Ptr{Float64},Ptr{Float64},Int32",
                      "--arch", "sm_90", "-O3"});
    ASSERT_EQ(f64.status, 0) << f64.err;
    EXPECT_NE(f64.out.find(".target sm_90"), std::string::npos);
    EXPECT_NE(f64.out.find(".f64"), std::string::npos);
}

TEST_F(Cli, EmitChoosesTheOutputAndTheExtensionOnlyADefault) {
    Result llvm = run({"compile", "vadd", "--emit", "llvm"});
    ASSERT_EQ(llvm.status, 0) << llvm.err;
    EXPECT_NE(llvm.out.find("define"), std::string::npos);
    EXPECT_NE(llvm.out.find("@kcache_kernel"), std::string::npos);
    EXPECT_NE(llvm.out.find("nvptx64-nvidia-cuda"), std::string::npos);

    Result as = run({"compile", "vadd", "--target", "host", "--emit", "asm"});
    ASSERT_EQ(as.status, 0) << as.err;
    EXPECT_NE(as.out.find("kcache_kernel:"), std::string::npos) << as.out.substr(0, 300);

    // The extension supplies a default...
    ASSERT_EQ(run({"compile", "vadd", "-o", "v.ll"}).status, 0);
    EXPECT_NE(slurp(dir_ / "v.ll").find("define"), std::string::npos);
    ASSERT_EQ(run({"compile", "vadd", "-o", "v.ptx"}).status, 0);
    EXPECT_NE(slurp(dir_ / "v.ptx").find(".entry kcache_kernel"), std::string::npos);
    // ... and a mismatch with --emit is an error, with nothing written.
    Result mismatch = run({"compile", "vadd", "--emit", "cubin", "-o", "w.ptx"});
    EXPECT_EQ(mismatch.status, 2);
    EXPECT_NE(mismatch.err.find("kcache compile: -o 'w.ptx' names ptx output, but --emit asks "
                                "for cubin"),
              std::string::npos)
        << mismatch.err;
    EXPECT_FALSE(fs::exists(dir_ / "w.ptx"));
    Result wrong = run({"compile", "vadd", "--emit", "hsaco"});
    EXPECT_EQ(wrong.status, 2);
    EXPECT_NE(wrong.err.find("nvptx cannot emit hsaco"), std::string::npos) << wrong.err;
}

TEST_F(Cli, BinaryOutputGoesToAFileWithADefaultName) {
    Result amd = run({"compile", "matmul_tiled", "--target", "amdgpu", "--arch", "gfx1100"});
    ASSERT_EQ(amd.status, 0) << amd.err;
    EXPECT_TRUE(amd.out.empty());
    EXPECT_NE(amd.err.find("wrote hsaco of matmul_tiled"), std::string::npos) << amd.err;
    std::string bytes = slurp(dir_ / "matmul_tiled.hsaco");
    auto elf = read_elf(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    ASSERT_TRUE(elf);
    EXPECT_EQ(elf->type, unsigned(llvm::ELF::ET_DYN));
    EXPECT_EQ(elf->machine, unsigned(llvm::ELF::EM_AMDGPU));
    EXPECT_TRUE(has_symbol(*elf, "kcache_kernel.kd"));

    Result host = run({"compile", "softmax_rows", "--target", "host", "-o", "k.o"});
    ASSERT_EQ(host.status, 0) << host.err;
    std::string ob = slurp(dir_ / "k.o");
    auto oelf = read_elf(std::vector<std::uint8_t>(ob.begin(), ob.end()));
    ASSERT_TRUE(oelf);
    EXPECT_EQ(oelf->type, unsigned(llvm::ELF::ET_REL));
    EXPECT_TRUE(has_symbol(*oelf, "kcache_kernel"));
    // No temporary file is left beside the outputs.
    for (const auto& e : fs::directory_iterator(dir_))
        EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();

    // A device is written to, never replaced by a renamed file.
    ASSERT_EQ(run({"compile", "vadd", "--target", "host", "-o", "/dev/null"}).status, 0);
    EXPECT_TRUE(fs::is_character_file("/dev/null"));

    // -o - is standard output: allowed into a pipe or file, refused on a terminal.
    Result piped = run({"compile", "vadd", "--target", "host", "-o", "-"});
    ASSERT_EQ(piped.status, 0) << piped.err;
    EXPECT_EQ(piped.out.substr(0, 4), "\x7f"
                                      "ELF");
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    Result tty =
        run({"compile", "vadd", "--target", "host", "-o", "-"}, {.stdout_path = ::ptsname(master)});
    ::close(master);
    EXPECT_EQ(tty.status, 2);
    EXPECT_NE(tty.err.find("refusing to write binary object to a terminal"), std::string::npos)
        << tty.err;
}

TEST_F(Cli, CompileNvptxCubin) {
    Result r = run({"compile", "saxpy", "--arch", "sm_80", "-o", "s.cubin"});
    if (r.status == 1 && r.err.find("no cubin") != std::string::npos)
        GTEST_SKIP() << "no nvJitLink here: " << r.err;
    ASSERT_EQ(r.status, 0) << r.err;
    std::string bytes = slurp(dir_ / "s.cubin");
    auto elf = read_elf(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    ASSERT_TRUE(elf);
    EXPECT_EQ(elf->machine, 190u); // EM_CUDA
    // An arch this toolchain cannot assemble: an error saying why, and what would work.
    Result old = run({"compile", "saxpy", "--arch", "sm_50", "--emit", "cubin", "-o", "o.cubin"});
    if (old.status == 0)
        GTEST_SKIP() << "this nvJitLink still assembles sm_50";
    EXPECT_EQ(old.status, 1);
    EXPECT_NE(old.err.find("kcache compile: error: no cubin for saxpy"), std::string::npos)
        << old.err;
    EXPECT_NE(old.err.find("--emit ptx gives the PTX"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / "o.cubin"));
}

TEST_F(Cli, VerboseSaysWhereTheCodeCameFrom) {
    const std::regex line("compiled in [0-9.]+ ms, content key ([0-9a-f]{64})");
    Result first = run({"compile", "vadd", "--target", "host", "-v", "-o", "a.o"});
    ASSERT_EQ(first.status, 0) << first.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(first.err, m, line)) << first.err;
    const std::string key = m[1];
    // A second process reads it from the disk tier without building the IR.
    Result second = run({"compile", "vadd", "--target", "host", "-v", "-o", "b.o"});
    ASSERT_EQ(second.status, 0) << second.err;
    EXPECT_NE(second.err.find("disk (no IR) in"), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("content key " + key), std::string::npos) << second.err;
    EXPECT_EQ(slurp(dir_ / "a.o"), slurp(dir_ / "b.o"));
    // The key is the one the store files the code under.
    Result show = run({"cache", "show", key.substr(0, 12), "--json"});
    ASSERT_EQ(show.status, 0) << show.err;
    Json entry = show.json();
    EXPECT_EQ(entry["key"], key);
    EXPECT_EQ(entry["kind"], "content");
    EXPECT_EQ(entry["format"], "object");
    EXPECT_EQ(entry["target"], "host");
}

TEST_F(Cli, CompilesTheUsersOwnIR) {
    // Calls the library's muladd by the convention: dispatched, compiled into the module.
    std::ofstream(dir_ / "scale.ll") << R"(
declare i32 @kcache.thread_idx.x()
declare !kcache.types !0 float @muladd$f32(float, float, float)

define void @scale(ptr addrspace(1) %x, float %a, i32 %n) {
entry:
  %i = call i32 @kcache.thread_idx.x()
  %in = icmp slt i32 %i, %n
  br i1 %in, label %body, label %exit
body:
  %p = getelementptr float, ptr addrspace(1) %x, i32 %i
  %v = load float, ptr addrspace(1) %p
  %r = call float @muladd$f32(float %a, float %v, float 1.0)
  store float %r, ptr addrspace(1) %p
  br label %exit
exit:
  ret void
}
!0 = !{!"Float32", !"Float32", !"Float32"}
)";
    const std::vector<std::string> args{
        "compile", "--ir", "scale.ll", "--kernel", "scale", "--types", "Ptr{Float32},Float32,Int32",
        "-v"};
    Result r = run(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(".entry kcache_kernel"), std::string::npos) << r.out.substr(0, 400);
    EXPECT_NE(r.out.find("fma.rn.f32"), std::string::npos) << "muladd linked in";
    EXPECT_NE(r.err.find("scale(Ptr{Float32},Float32,Int32) for nvptx:sm_80:O2: compiled"),
              std::string::npos)
        << r.err;
    Result again = run(args);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_NE(again.err.find("disk (no IR)"), std::string::npos) << again.err;
    EXPECT_EQ(again.out, r.out);

    // Bad IR: the file and the line.
    std::ofstream(dir_ / "bad.ll") << "define void @bad(ptr addrspace(1) %p) {\nentry:\n"
                                      "  %v = lod float, ptr addrspace(1) %p\n  ret void\n}\n";
    Result bad = run({"compile", "--ir", "bad.ll", "--kernel", "bad", "--types", "Ptr{Float32}"});
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("kcache compile: error: bad.ll: "), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("line 3"), std::string::npos) << bad.err;
    EXPECT_TRUE(bad.out.empty());
    // A file that is not there: the OS's reason.
    Result missing =
        run({"compile", "--ir", "none.ll", "--kernel", "k", "--types", "Ptr{Float32}"});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("cannot read 'none.ll': No such file or directory"),
              std::string::npos)
        << missing.err;
    Result no_types = run({"compile", "--ir", "scale.ll", "--kernel", "scale"});
    EXPECT_EQ(no_types.status, 2);
    EXPECT_NE(no_types.err.find("--ir needs --types"), std::string::npos) << no_types.err;
}

TEST_F(Cli, ErrorsSayTheCommandAndExitWithTheirStatus) {
    struct Case {
        std::vector<std::string> args;
        int status;
        const char* message;
    };
    const Case cases[] = {
        {{"compile"}, 2, "kcache compile: no kernel given"},
        {{"compile", "nope"}, 2, "kcache compile: unknown kernel 'nope'"},
        {{"compile", "vadd", "--target", "tpu"}, 2, "kcache compile: unknown target 'tpu'"},
        {{"compile", "vadd", "-O", "7"}, 2, "kcache compile: "},
        {{"compile", "vadd", "--types", "Ptr{Float32"}, 2, "kcache compile: --types"},
        {{"compile", "vadd", "--bogus"}, 2, "kcache compile: "},
        {{"compile", "vadd", "--arch", "sm_1"}, 1, "supported: sm_50"},
        {{"compile", "reduce_sum", "--types", "Ptr{Int8},Ptr{Int8},Int32"}, 1, "no method"},
        {{"compile", "vadd", "-o", "no-such-dir/v.ptx"},
         1,
         "cannot write 'no-such-dir/v.ptx': No such file or directory"},
        {{"frobnicate"}, 2, "kcache: unknown command 'frobnicate'"},
        {{"cache"}, 2, "kcache cache: "},
        {{"cache", "show", "xyz"}, 2, "kcache cache show: 'xyz' is not a key"},
        {{"cache", "show", "abcdef"}, 1, "kcache cache show: error: no entry's key"},
        {{"cache", "prune"}, 2, "kcache cache prune: say what to prune"},
        {{"cache", "prune", "--max-size", "lots"}, 2, "not a size like 500M"},
        {{"cache", "prune", "--older-than", "7x"}, 2, "not an age like 7d"},
        {{"warm", "--targets", "tpu"}, 2, "kcache warm: --targets: unknown target 'tpu'"},
        {{"warm", "--kernels", "nope"}, 2, "kcache warm: unknown kernel 'nope'"},
        {{"run", "--device", "tpu"}, 2, "kcache run: --device: unknown device 'tpu'"},
    };
    for (const auto& c : cases) {
        std::string joined;
        for (const auto& a : c.args)
            joined += a + " ";
        SCOPED_TRACE(joined);
        Result r = run(c.args);
        EXPECT_EQ(r.status, c.status) << r.err;
        EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

TEST_F(Cli, AFailedWriteToStdoutIsAnError) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"kernels"}, {"compile", "vadd"}, {"version", "--json"}}) {
        Result r = run(args, {.stdout_path = "/dev/full"});
        EXPECT_EQ(r.status, 1) << args.front();
        EXPECT_NE(r.err.find("kcache " + args.front() +
                             ": error: cannot write to standard output: No space left on device"),
                  std::string::npos)
            << r.err;
    }
}

// The reported crash (a stack overflow, exit 139) and other hostile command lines: each is a
// usage error or a failed compile with a bounded, printable message.
TEST_F(Cli, HostileCommandLinesAreBoundedErrors) {
    std::string deep;
    for (int i = 0; i < 25000; ++i)
        deep += "Ptr{";
    deep += "Float32" + std::string(25000, '}');
    Result nested = run({"compile", "saxpy", "--types", deep});
    EXPECT_EQ(nested.status, 2) << nested.err.substr(0, 500);
    EXPECT_NE(nested.err.find("deeper than 64"), std::string::npos);
    EXPECT_LT(nested.err.size(), 1000u);

    const std::string huge(100000, 'x'); // under the kernel's 128 KiB limit per argument
    for (const std::vector<std::string>& args : {std::vector<std::string>{"compile", huge},
                                                 {"compile", "vadd", "--arch", huge},
                                                 {"compile", "vadd", "--target", huge},
                                                 {"compile", "vadd", huge},
                                                 {"compile", "vadd", "-O", huge},
                                                 {"cache", "show", huge},
                                                 {huge}}) {
        Result r = run(args);
        EXPECT_TRUE(r.status == 1 || r.status == 2) << r.status;
        EXPECT_LT(r.err.size(), 2000u) << r.err.substr(0, 300);
    }
    Result escaped = run({"compile", "vadd", "--arch", "sm_80\x1b[2J"});
    EXPECT_EQ(escaped.status, 1);
    EXPECT_EQ(escaped.err.find('\x1b'), std::string::npos) << escaped.err;
    EXPECT_NE(escaped.err.find("sm_80\\x1b[2J"), std::string::npos) << escaped.err;
}

// --- warm ------------------------------------------------------------------------------------

TEST_F(Cli, WarmFillsTheStoreOnceInParallel) {
    const std::vector<std::string> args{
        "warm", "--kernels", "vadd,fill", "--targets", "host",  "nvptx:sm_80,sm_90",
        "-O",   "1,2",       "--jobs",    "2",         "--json"};
    // Each example specialisation of vadd and fill, on host + two nvptx archs at two levels.
    std::size_t examples = 0;
    const Json kernels = run({"kernels", "--json"}).json();
    for (const auto& k : kernels["kernels"])
        if (k["name"] == "vadd" || k["name"] == "fill")
            examples += k["examples"].size();
    ASSERT_GE(examples, 2u);
    Result r = run(args);
    ASSERT_EQ(r.status, 0) << r.err;
    Json s = r.json();
    EXPECT_EQ(s["specs"], 6);
    EXPECT_EQ(s["items"], examples * 6);
    EXPECT_EQ(s["compiled"], examples * 6);
    EXPECT_EQ(s["failed"], 0);
    EXPECT_EQ(entry_files("cas").size(), examples * 6);
    Result again = run(args);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.json()["compiled"], 0);
    EXPECT_EQ(again.json()["from_store"], examples * 6);

    // Without a terminal: no progress bar, one summary line.
    Result text = run({"warm", "--kernels", "matmul", "--targets", "host"});
    ASSERT_EQ(text.status, 0) << text.err;
    EXPECT_EQ(lines(text.err).size(), 1u) << text.err;
    EXPECT_NE(text.err.find("kcache warm: 1 items (1 kernels x 1 specs): 1 compiled, 0 from the "
                            "store, 0 failed"),
              std::string::npos)
        << text.err;
    EXPECT_EQ(text.err.find('\r'), std::string::npos);
}

// --- cache -----------------------------------------------------------------------------------

TEST_F(Cli, StatsPersistAcrossProcesses) {
    Result path = run({"cache", "path", "--json"});
    ASSERT_EQ(path.status, 0) << path.err;
    EXPECT_EQ(path.json()["directory"], store_.string());

    ASSERT_EQ(run({"compile", "vadd", "--target", "host", "-o", "a.o"}).status, 0);
    ASSERT_EQ(run({"compile", "vadd", "--target", "host", "-o", "b.o"}).status, 0);
    Result r = run({"cache", "stats", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    Json s = r.json();
    EXPECT_EQ(s["compiled"], 1);                         // the first process
    EXPECT_EQ(s["recalls"], 1);                          // the second
    EXPECT_GE(s["tiers"]["disk"]["hits"].get<int>(), 2); // its action and content entries
    EXPECT_GT(s["tiers"]["disk"]["bytes_written"].get<int>(), 0);
    EXPECT_EQ(s["entries"]["content"], 1);
    EXPECT_EQ(s["entries"]["action"], 1);
    Result text = run({"cache", "stats"});
    EXPECT_NE(text.out.find("1 compiled and stored, 1 recalled"), std::string::npos) << text.out;

    ASSERT_EQ(run({"cache", "stats", "--zero"}).status, 0);
    EXPECT_EQ(run({"cache", "stats", "--json"}).json()["compiled"], 0);
}

TEST_F(Cli, LsAndShowDescribeEntries) {
    ASSERT_EQ(run({"compile", "saxpy", "--target", "host", "-o", "s.o"}).status, 0);
    Result ls = run({"cache", "ls", "--json"});
    ASSERT_EQ(ls.status, 0) << ls.err;
    Json entries = ls.json()["entries"];
    ASSERT_EQ(entries.size(), 2u);
    std::string action_key;
    for (const auto& e : entries) {
        EXPECT_TRUE(e["ok"].get<bool>()) << e.dump();
        EXPECT_EQ(e["target"], "host");
        EXPECT_GT(e["size"].get<int>(), 0);
        if (e["kind"] == "action") {
            EXPECT_EQ(e["function"], "saxpy");
            EXPECT_EQ(e["arg_types"], "Float32,Ptr{Float32},Ptr{Float32},Int32");
            action_key = e["key"];
        }
    }
    Result text = run({"cache", "ls"});
    EXPECT_NE(text.out.find("saxpy(Float32,Ptr{Float32},Ptr{Float32},Int32)"), std::string::npos)
        << text.out;
    Result show = run({"cache", "show", action_key.substr(0, 8)});
    ASSERT_EQ(show.status, 0) << show.err;
    EXPECT_NE(show.out.find("dispatches"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("toolchain.llvm"), std::string::npos) << show.out;
}

TEST_F(Cli, VerifyRemovesACorruptedEntryAndFails) {
    ASSERT_EQ(run({"compile", "vadd", "--target", "host", "-o", "a.o"}).status, 0);
    ASSERT_EQ(run({"compile", "fill", "--target", "host", "-o", "f.o"}).status, 0);
    Result clean = run({"cache", "verify"});
    EXPECT_EQ(clean.status, 0) << clean.out << clean.err;
    EXPECT_NE(clean.out.find("checked 4 entries"), std::string::npos) << clean.out;

    auto content = entry_files("cas");
    ASSERT_EQ(content.size(), 2u);
    {
        std::fstream f(content[0], std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f.put('\x5a');
    }
    Result r = run({"cache", "verify", "--json"});
    EXPECT_EQ(r.status, 1);
    Json v = r.json();
    EXPECT_EQ(v["checked"], 4);
    EXPECT_EQ(v["bad"], 1);
    EXPECT_EQ(v["removed"], 1);
    EXPECT_EQ(v["entries"][0]["key"], content[0].filename().string());
    EXPECT_TRUE(v["entries"][0]["removed"].get<bool>());
    EXPECT_FALSE(fs::exists(content[0]));
    EXPECT_TRUE(fs::exists(content[1]));
    EXPECT_EQ(run({"cache", "verify"}).status, 0);
    EXPECT_EQ(run({"cache", "stats", "--json"}).json()["tiers"]["disk"]["corrupt"], 1);
}

TEST_F(Cli, PruneByAgeAndBySize) {
    ASSERT_EQ(run({"warm", "--kernels", "vadd,fill,copy", "--targets", "host"}).status, 0);
    auto all = entry_files("cas"), actions = entry_files("ac");
    ASSERT_GE(all.size(), 3u);
    const std::size_t entries = all.size() + actions.size();
    // One content entry and its action entry last used ten days ago.
    const timespec old[2] = {{std::time(nullptr) - 10 * 86400, 0},
                             {std::time(nullptr) - 10 * 86400, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, all[0].c_str(), old, 0), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, actions[0].c_str(), old, 0), 0);
    Result age = run({"cache", "prune", "--older-than", "7d", "--json"});
    ASSERT_EQ(age.status, 0) << age.err;
    EXPECT_EQ(age.json()["removed"], 2);
    EXPECT_FALSE(fs::exists(all[0]));
    EXPECT_FALSE(fs::exists(actions[0]));
    EXPECT_EQ(entry_files("cas").size() + entry_files("ac").size(), entries - 2);

    std::uint64_t bytes = 0;
    for (const auto& f : entry_files("cas"))
        bytes += fs::file_size(f);
    for (const auto& f : entry_files("ac"))
        bytes += fs::file_size(f);
    const std::uint64_t cap = bytes / 2;
    Result size = run({"cache", "prune", "--max-size", std::to_string(cap), "--json"});
    ASSERT_EQ(size.status, 0) << size.err;
    Json p = size.json();
    EXPECT_GT(p["removed"].get<int>(), 0);
    EXPECT_LE(p["bytes"].get<std::uint64_t>(), cap / 10 * 9);
    EXPECT_GE(run({"cache", "stats", "--json"}).json()["tiers"]["disk"]["evictions"].get<int>(),
              2 + p["removed"].get<int>());

    Result clear = run({"cache", "clear"});
    ASSERT_EQ(clear.status, 0) << clear.err;
    EXPECT_TRUE(entry_files("cas").empty() && entry_files("ac").empty());
    EXPECT_EQ(run({"cache", "ls", "--json"}).json()["entries"].size(), 0u);
}

// --- run -------------------------------------------------------------------------------------

TEST_F(Cli, RunPrintsJsonLines) {
    Result r = run({"run", "--device", "host", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    int rows = 0;
    Json summary;
    for (const std::string& line : lines(r.out)) {
        Json j = Json::parse(line); // every line is one object
        if (j.contains("summary")) {
            summary = j["summary"];
            continue;
        }
        ++rows;
        EXPECT_EQ(j["check"], "ok") << line;
        EXPECT_TRUE(j["code_from"].is_string());
        EXPECT_GE(j["first_ms"].get<double>(), 0.0);
    }
    EXPECT_EQ(rows, 11); // ten kernels and saxpy after the redefinition
    ASSERT_TRUE(summary.is_object());
    EXPECT_EQ(summary["failures"], 0);
    EXPECT_EQ(summary["modules_evicted"], 4);
    EXPECT_GT(summary["store"]["compiled"].get<int>(), 0);
}

} // namespace
} // namespace kcache::test
