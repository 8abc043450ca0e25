#include "core/excerpt.hpp"

#include <algorithm>

namespace kcache {
namespace {

bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 when it is not one.
std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (n == 0 || i + n > text.size())
        return 0;
    for (std::size_t k = 1; k < n; ++k)
        if (!is_continuation(static_cast<unsigned char>(text[i + k])))
            return 0;
    return n;
}

void append_escaped(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
            ++i;
        } else if (std::size_t n = c >= 0x80 ? utf8_length(text, i) : 0) {
            out.append(text.substr(i, n));
            i += n;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
            ++i;
        }
    }
}

} // namespace

std::string excerpt(std::string_view text, std::size_t focus, std::size_t max_bytes) {
    std::string out;
    if (text.size() <= max_bytes) {
        append_escaped(out, text);
        return out;
    }
    // A window of max_bytes with the focus a third of the way in, moved off UTF-8 continuations.
    focus = std::min(focus, text.size());
    std::size_t begin = focus > max_bytes / 3 ? focus - max_bytes / 3 : 0;
    begin = std::min(begin, text.size() - max_bytes);
    std::size_t end = begin + max_bytes;
    while (begin < text.size() && is_continuation(static_cast<unsigned char>(text[begin])))
        ++begin;
    while (end < text.size() && end > begin &&
           is_continuation(static_cast<unsigned char>(text[end])))
        --end;
    if (begin > 0)
        out += "...";
    append_escaped(out, text.substr(begin, end - begin));
    if (end < text.size())
        out += "... (" + std::to_string(text.size()) + " bytes in all)";
    return out;
}

} // namespace kcache
