#include "targets/amdgpu/lld_link.hpp"

#include "targets/target_errors.hpp"

#include <lld/Common/Driver.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

LLD_HAS_DRIVER(elf)

namespace kcache::detail {
namespace {

std::mutex lld_mutex;      // lld is not re-entrant
bool lld_unusable = false; // set when lld says it cannot run again (guarded by lld_mutex)

// Removes the directory tree when the link is over, whatever happened.
struct TempDir {
    llvm::SmallString<128> path;
    ~TempDir() {
        if (!path.empty())
            llvm::sys::fs::remove_directories(path);
    }
};

} // namespace

std::vector<std::uint8_t> lld_link_shared(const std::vector<char>& object,
                                          const CompileSubject& subject) {
    TempDir dir;
    if (auto ec = llvm::sys::fs::createUniqueDirectory("kcache-lld", dir.path))
        throw CodegenError("lld: cannot create a temporary directory: " + ec.message());
    std::string in = (dir.path + "/kernel.o").str();
    std::string out = (dir.path + "/kernel.hsaco").str();
    {
        std::error_code ec;
        llvm::raw_fd_ostream os(in, ec);
        if (ec)
            throw CodegenError("lld: cannot write " + in + ": " + ec.message());
        os.write(object.data(), object.size());
        os.close();
        if (os.has_error())
            throw CodegenError("lld: cannot write " + in + ": " + os.error().message());
    }

    const char* args[] = {"ld.lld", "-shared", "--no-undefined", in.c_str(), "-o", out.c_str()};
    std::string messages;
    llvm::raw_string_ostream out_os(messages), err_os(messages);
    {
        std::lock_guard lock(lld_mutex); // outside the region: a crash must not leave it held
        if (lld_unusable)
            throw CodegenError("lld: an earlier link left lld unable to run again in this "
                               "process");
        lld::Result r{1, false};
        // lld recovers its own errors (lldMain runs under a CrashRecoveryContext of its own and
        // says whether it can run again); the region catches what escapes that.
        auto crash = run_contained(nullptr, [&] {
            r = lld::lldMain(args, out_os, err_os, {{lld::Gnu, &lld::elf::link}});
        });
        if (crash || !r.canRunAgain)
            lld_unusable = true;
        if (crash)
            throw LoweringCrashError("lld", subject.kernel, subject.module, subject.target,
                                     crash->describe(), crash->signal);
        if (r.retCode != 0)
            throw CodegenError("lld failed to link the HSACO: " + messages);
    }

    auto buf = llvm::MemoryBuffer::getFile(out, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    if (!buf)
        throw CodegenError("lld: cannot read " + out + ": " + buf.getError().message());
    return {(*buf)->getBufferStart(), (*buf)->getBufferEnd()};
}

} // namespace kcache::detail
