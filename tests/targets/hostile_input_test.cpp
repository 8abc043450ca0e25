// Input a user controls, at its worst: arch names (huge, non-ASCII, control characters, numbers
// that overflow), opt levels, the environment. Each is a clear, bounded error or is ignored
// with a warning; nothing crashes.
#include "kernels.hpp"

#include "core/excerpt.hpp"
#include "targets/llvm/crash_recovery.hpp"
#include "targets/nvptx/cuda_paths.hpp"
#include "targets/target_errors.hpp"

#include <llvm/Support/ErrorHandling.h>

#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <optional>

namespace kcache::test {
namespace {

const TargetKind kKinds[] = {TargetKind::nvptx(), TargetKind::amdgpu(), TargetKind::host()};

TEST(HostileInput, ArchNamesAreUnknownArchErrorsQuotedWithinBounds) {
    const std::string huge(1 << 20, 's');
    for (TargetKind kind : kKinds)
        for (const std::string& arch :
             {std::string("sm_99999999999999"), std::string("gfx99999999999999999999"), huge,
              std::string("sm_8φ"), std::string("sm_80\x1b[2J"), std::string("sm_80 "),
              std::string("\xff\xfe"), std::string("sm_80\0x", 7)}) {
            SCOPED_TRACE(excerpt(arch, 0, 40));
            try {
                kind.target().resolve({kind, arch, 2});
                ADD_FAILURE() << "accepted";
            } catch (const UnknownArchError& e) {
                const std::string what = e.what();
                EXPECT_EQ(e.arch(), arch);
                EXPECT_LT(what.size(), 2 * kExcerptBytes + 64 * e.supported().size());
                EXPECT_EQ(what.find('\x1b'), std::string::npos);
                EXPECT_EQ(what.find('\0'), std::string::npos);
            }
        }
    // Empty is the target's default, by definition.
    for (TargetKind kind : kKinds)
        EXPECT_EQ(kind.target().resolve({kind, "", 2}).arch, kind.target().default_arch());
}

TEST(HostileInput, OptLevelsOutside0To3AreRejected) {
    for (TargetKind kind : kKinds)
        for (int level : {INT_MIN, -1, 4, INT_MAX})
            EXPECT_THROW(kind.target().resolve({kind, "", level}), InvalidArgumentError) << level;
}

// Restores an environment variable when the test ends.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name))
            old_ = old;
        ::setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(HostileInput, ARelativeCudaHomeIsIgnored) {
    const std::string fallback = [] {
        ScopedEnv k("KCACHE_CUDA_HOME", "");
        ScopedEnv c("CUDA_HOME", "");
        return detail::cuda_home();
    }();
    {
        ScopedEnv k("KCACHE_CUDA_HOME", "relative/cuda");
        ScopedEnv c("CUDA_HOME", "");
        EXPECT_EQ(detail::cuda_home(), fallback); // never a path relative to the working dir
    }
    {
        ScopedEnv k("KCACHE_CUDA_HOME", "/opt/no-such-cuda");
        EXPECT_EQ(detail::cuda_home(), "/opt/no-such-cuda");
        EXPECT_EQ(detail::find_libdevice(), ""); // absent: libdevice is simply not there
    }
    {
        ScopedEnv k("KCACHE_CUDA_HOME", ("/" + std::string(100000, 'd')).c_str());
        EXPECT_EQ(detail::find_libdevice(), ""); // a name too long for the file system
    }
}

TEST(HostileInputDeathTest, CrashRecoveryCanBeTurnedOff) {
    GTEST_FLAG_SET(death_test_style, "threadsafe"); // a fresh process reads the variable
    ScopedEnv off("KCACHE_CRASH_RECOVERY", "0");
    EXPECT_DEATH(
        {
            if (detail::crash_recovery_enabled())
                std::exit(0); // not the fresh process the death test needs
            (void)detail::run_contained(nullptr, [] { llvm::report_fatal_error("not contained"); });
        },
        "LLVM ERROR: not contained");
}

} // namespace
} // namespace kcache::test
