// How error messages quote text a user controls (type names, kernel and arch names, IR symbols,
// command-line arguments): bounded in length and printable, so that hostile input cannot flood
// a log or put control characters on a terminal.
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kcache {

/// The most bytes of user text an error message quotes.
inline constexpr std::size_t kExcerptBytes = 200;

/// `text` as an error message shows it: control characters and invalid UTF-8 bytes escaped as
/// \xNN, and, when longer than `max_bytes`, cut around byte `focus` (the place the message is
/// about; 0: the start) with "..." marking what was left out. Never splits a UTF-8 sequence.
std::string excerpt(std::string_view text, std::size_t focus = 0,
                    std::size_t max_bytes = kExcerptBytes);

} // namespace kcache
