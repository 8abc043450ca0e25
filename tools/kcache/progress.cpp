#include "progress.hpp"

namespace kcache::cli {

ProgressBar::ProgressBar(std::ostream& err, bool terminal, std::size_t total)
    : err_(err), terminal_(terminal), total_(total) {}

void ProgressBar::advance(const std::string& label) {
    std::lock_guard lock(mutex_);
    ++done_;
    if (!terminal_)
        return;
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = total_ ? done_ * kWidth / total_ : kWidth;
    std::string line = "\r\x1b[2K[" + std::string(filled, '#') + std::string(kWidth - filled, ' ') +
                       "] " + std::to_string(done_) + "/" + std::to_string(total_) + " " +
                       label.substr(0, 60);
    err_ << line << std::flush;
}

void ProgressBar::finish() {
    std::lock_guard lock(mutex_);
    if (terminal_)
        err_ << "\r\x1b[2K" << std::flush;
}

} // namespace kcache::cli
