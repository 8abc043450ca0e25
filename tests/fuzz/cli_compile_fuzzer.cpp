// The command line of `kcache compile`, run in-process: the input is its arguments, separated
// by NUL bytes. Every outcome is an exit status with a message; a crash, an uncaught exception,
// a hang or a leak is a finding. Output files (-o) go to a private directory: the value after
// -o is replaced by a file there with the same extension (which decides what is written), and
// the harness works in that directory (where binary output without -o is written).
#include "cli.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Discards what it is given, as a terminal would show it, without failing the stream.
class Discard : public std::streambuf {
protected:
    int overflow(int c) override { return traits_type::not_eof(c); }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

// A directory of this process's own, removed at exit.
class Scratch {
public:
    Scratch() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "kcache-cli-fuzz-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
            std::abort(); // a harness without a scratch directory cannot run safely
        path_ = pattern;
        // Binary output without -o goes to KERNEL.EXT in the working directory: make it ours.
        std::error_code ec;
        std::filesystem::current_path(path_, ec);
        if (ec)
            std::abort();
    }
    ~Scratch() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    // A file in the directory with the extension of `requested` (letters only, short).
    std::string file_for(const std::string& requested) const {
        std::string ext = std::filesystem::path(requested).extension().string();
        bool plain = ext.size() <= 8;
        for (std::size_t i = 1; i < ext.size(); ++i)
            plain = plain && std::isalpha(static_cast<unsigned char>(ext[i]));
        return (path_ / ("out" + (plain ? ext : std::string()))).string();
    }

private:
    std::filesystem::path path_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Scratch scratch;
    static Discard discard;
    std::ostream out(&discard), err(&discard);

    std::vector<std::string> args{"compile"};
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    for (std::size_t start = 0; start <= input.size();) {
        std::size_t end = input.find('\0', start);
        if (end == std::string_view::npos)
            end = input.size();
        args.emplace_back(input.substr(start, end - start));
        start = end + 1;
    }
    for (std::size_t i = 1; i + 1 < args.size(); ++i)
        if (args[i] == "-o")
            args[i + 1] = scratch.file_for(args[i + 1]);
    kcache::cli::run(args, out, err);
    return 0;
}
