// Progress of a batch of work on standard error: a bar redrawn in place when it is a terminal,
// nothing until the end otherwise (the caller then prints one summary line).
// Thread-safety: thread-safe; workers call advance() concurrently.
#pragma once

#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>

namespace kcache::cli {

class ProgressBar {
public:
    /// Draws on `err` only when `terminal`.
    ProgressBar(std::ostream& err, bool terminal, std::size_t total);
    /// One more item done; `label` says which.
    void advance(const std::string& label);
    /// Clears the bar's line.
    void finish();

private:
    std::ostream& err_;
    const bool terminal_;
    const std::size_t total_;
    std::mutex mutex_;
    std::size_t done_ = 0;
};

} // namespace kcache::cli
