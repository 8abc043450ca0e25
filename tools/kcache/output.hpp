// Where a command's results go: files written whole or not at all, and standard output.
// Thread-safety: free functions; each call works on its own file.
#pragma once

#include "core/errors.hpp"

#include <filesystem>
#include <string_view>

namespace kcache::cli {

/// A file that could not be read or written; the message names it and gives the OS's reason.
class FileError : public Error {
public:
    using Error::Error;
};

/// Writes `bytes` to `path` through a temporary file in the same directory, then renames it over
/// `path`: a reader sees the old file or the new one, never half of one, and a failure leaves
/// what was there (the temporary file is removed). A path that exists and is no regular file (a
/// device such as /dev/null, a FIFO) is written to in place. Throws FileError.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

/// The whole of the regular file `path`, at most `max_bytes`. Throws FileError.
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes);

} // namespace kcache::cli
