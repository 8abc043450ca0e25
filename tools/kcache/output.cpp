#include "output.hpp"

#include "core/excerpt.hpp"
#include "store/file_descriptor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace kcache::cli {
namespace {

std::string quoted(const std::filesystem::path& p) {
    return "'" + excerpt(p.string()) + "'";
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& p, int err) {
    throw FileError("cannot " + what + " " + quoted(p) + ": " + std::strerror(err));
}

int write_all(int fd, std::string_view bytes) {
    return store::write_all(fd, bytes.data(), bytes.size());
}

} // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
    // A device or pipe (/dev/null, /dev/stdout, a FIFO) is written to, never replaced.
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            fail("write", path, EISDIR);
        store::Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd)
            fail("write", path, errno);
        if (const int err = write_all(fd.get(), bytes))
            fail("write", path, err);
        if (::close(fd.release()) != 0)
            fail("write", path, errno);
        return;
    }
    static std::atomic<unsigned> counter{0};
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    const std::filesystem::path tmp =
        dir / ("." + path.filename().string() + ".kcache-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter.fetch_add(1)) + ".tmp");
    store::Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (!fd)
        fail("write", path, errno);
    int err = write_all(fd.get(), bytes);
    if (!err && ::close(fd.release()) != 0)
        err = errno;
    if (!err && ::rename(tmp.c_str(), path.c_str()) != 0)
        err = errno;
    if (err) {
        ::unlink(tmp.c_str());
        fail("write", path, err);
    }
}

std::string read_file(const std::filesystem::path& path, std::size_t max_bytes) {
    store::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd)
        fail("read", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
        fail("read", path, errno);
    if (!S_ISREG(st.st_mode))
        throw FileError("cannot read " + quoted(path) + ": not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
        throw FileError("cannot read " + quoted(path) + ": over " + std::to_string(max_bytes) +
                        " bytes");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    text.resize(store::read_all(fd.get(), text.data(), text.size()));
    return text;
}

} // namespace kcache::cli
