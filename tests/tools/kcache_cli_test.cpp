// The `kcache` command run as a process (posix_spawn, no shell): listing, compiling for each
// target, --help, and the exit statuses and stderr of bad command lines and failed compiles.
#include "elf_util.hpp"

#include <llvm/BinaryFormat/ELF.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace kcache::test {
namespace {

namespace fs = std::filesystem;

struct Result {
    int status = -1;
    std::string out, err;
};

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

class Cli : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("kcache-cli-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    Result run(std::vector<std::string> args) {
        args.insert(args.begin(), KCACHE_CLI_PATH);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        pid_t pid;
        Result r;
        if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0) {
            int status = 0;
            waitpid(pid, &status, 0);
            r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        posix_spawn_file_actions_destroy(&actions);
        r.out = slurp(out);
        r.err = slurp(err);
        return r;
    }
    fs::path dir_;
};

TEST_F(Cli, KernelsListsEveryKernelWithItsSignature) {
    Result r = run({"kernels"});
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* k : {"fill", "copy", "vadd", "saxpy", "reduce_sum", "softmax_rows",
                          "transpose", "matmul", "matmul_tiled", "axpby_ir"})
        EXPECT_NE(r.out.find(std::string(k) + "\n"), std::string::npos) << k;
    EXPECT_NE(r.out.find("saxpy(::T, ::Ptr{T}, ::Ptr{T}, ::Int32) where T<:AbstractFloat"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(run({"kernels", "extra"}).status, 2);
}

TEST_F(Cli, HelpDocumentsEveryOption) {
    Result top = run({"--help"});
    EXPECT_EQ(top.status, 0);
    EXPECT_NE(top.out.find("compile"), std::string::npos);
    EXPECT_NE(top.out.find("kernels"), std::string::npos);
    Result r = run({"compile", "--help"});
    EXPECT_EQ(r.status, 0);
    for (const char* opt : {"--types", "--target", "--arch", "-O N", "-o FILE", "cubin", "HSACO"})
        EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
    EXPECT_EQ(run({"help", "kernels"}).status, 0);
    Result none = run({});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("usage"), std::string::npos);
}

TEST_F(Cli, CompileNvptxWritesPtxToStdout) {
    Result r = run({"compile", "saxpy", "--types", "Float64,Ptr{Float64},Ptr{Float64},Int32",
                    "--target", "nvptx", "--arch", "sm_90", "-O", "3"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(".target sm_90"), std::string::npos);
    // Compiled through the store: the canonical kernel symbol (store/canonical_ir.hpp).
    EXPECT_NE(r.out.find(".entry kcache_kernel"), std::string::npos);
    EXPECT_NE(r.out.find(".f64"), std::string::npos);

    Result ptx_file =
        run({"compile", "vadd", "--target=nvptx", "-O0", "-o", (dir_ / "v.ptx").string()});
    ASSERT_EQ(ptx_file.status, 0) << ptx_file.err;
    EXPECT_NE(slurp(dir_ / "v.ptx").find(".entry kcache_kernel"), std::string::npos);
    EXPECT_NE(ptx_file.err.find("wrote PTX"), std::string::npos) << ptx_file.err;
}

TEST_F(Cli, CompileNvptxCubinWithOutputFile) {
    const fs::path cubin = dir_ / "s.cubin";
    Result r =
        run({"compile", "saxpy", "--target", "nvptx", "--arch", "sm_80", "-o", cubin.string()});
    if (r.status == 1 && r.err.find("no cubin") != std::string::npos)
        GTEST_SKIP() << "no nvJitLink here: " << r.err;
    ASSERT_EQ(r.status, 0) << r.err;
    std::string bytes = slurp(cubin);
    auto elf = read_elf(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    ASSERT_TRUE(elf);
    EXPECT_EQ(elf->machine, 190u); // EM_CUDA
    EXPECT_NE(r.err.find("wrote cubin"), std::string::npos) << r.err;
}

TEST_F(Cli, CompileAmdgpuAndHostNeedAnOutputFile) {
    for (const char* target : {"amdgpu", "host"}) {
        SCOPED_TRACE(target);
        Result refused = run({"compile", "vadd", "--target", target});
        EXPECT_EQ(refused.status, 2);
        EXPECT_TRUE(refused.out.empty());
        EXPECT_NE(refused.err.find("refusing to write a binary"), std::string::npos) << refused.err;
    }
    const fs::path hsaco = dir_ / "k.hsaco";
    Result r = run({"compile", "matmul_tiled", "--target", "amdgpu", "--arch", "gfx1100", "-o",
                    hsaco.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string bytes = slurp(hsaco);
    auto elf = read_elf(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    ASSERT_TRUE(elf);
    EXPECT_EQ(elf->type, unsigned(llvm::ELF::ET_DYN));
    EXPECT_EQ(elf->machine, unsigned(llvm::ELF::EM_AMDGPU));
    EXPECT_TRUE(has_symbol(*elf, "kcache_kernel.kd"));

    const fs::path obj = dir_ / "k.o";
    Result h = run({"compile", "softmax_rows", "--target", "host", "-o", obj.string()});
    ASSERT_EQ(h.status, 0) << h.err;
    std::string ob = slurp(obj);
    auto oelf = read_elf(std::vector<std::uint8_t>(ob.begin(), ob.end()));
    ASSERT_TRUE(oelf);
    EXPECT_EQ(oelf->type, unsigned(llvm::ELF::ET_REL));
    EXPECT_TRUE(has_symbol(*oelf, "kcache_kernel"));
}

TEST_F(Cli, ErrorsGoToStderrWithNonZeroStatus) {
    struct Case {
        std::vector<std::string> args;
        int status;
        const char* message;
    };
    const Case cases[] = {
        {{"compile"}, 2, "no kernel given"},
        {{"compile", "nope", "--target", "nvptx"}, 2, "unknown kernel 'nope'"},
        {{"compile", "vadd", "--target", "tpu"}, 2, "unknown target 'tpu'"},
        {{"compile", "vadd", "--target", "nvptx", "-O", "7"}, 2, "optimisation level"},
        {{"compile", "vadd", "--target", "nvptx", "--types", "Ptr{Float32"}, 2, "--types"},
        {{"compile", "vadd", "--target", "nvptx", "--bogus"}, 2, "unknown option '--bogus'"},
        {{"compile", "vadd", "--target", "nvptx", "--arch", "sm_1"}, 1, "supported: sm_50"},
        {{"compile", "reduce_sum", "--target", "nvptx", "--types", "Ptr{Int8},Ptr{Int8},Int32"},
         1,
         "no method"},
        {{"frobnicate"}, 2, "unknown command 'frobnicate'"},
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
                                                 {huge}}) {
        Result r = run(args);
        EXPECT_TRUE(r.status == 1 || r.status == 2) << r.status;
        EXPECT_LT(r.err.size(), 2000u) << r.err.substr(0, 300);
    }
    Result escaped = run({"compile", "vadd", "--target", "nvptx", "--arch", "sm_80\x1b[2J"});
    EXPECT_EQ(escaped.status, 1);
    EXPECT_EQ(escaped.err.find('\x1b'), std::string::npos) << escaped.err;
    EXPECT_NE(escaped.err.find("sm_80\\x1b[2J"), std::string::npos) << escaped.err;
}

} // namespace
} // namespace kcache::test
