// Type::parse and Type::parse_list on arbitrary text: a TypeParseError or a type, never a crash,
// a hang or a leak; and every type parsed prints back to text that parses to the same type.
#include "core/errors.hpp"
#include "core/types.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

// A broken round trip is a logic error: trap, so that libFuzzer keeps the input.
void check_round_trip(kcache::Type t) {
    if (kcache::Type::parse(t.str()) != t)
        __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        check_round_trip(kcache::Type::parse(text));
    } catch (const kcache::TypeParseError&) {
    }
    try {
        kcache::Type list = kcache::Type::parse_list(text);
        check_round_trip(list);
        for (kcache::Type t : list.elements())
            check_round_trip(t);
    } catch (const kcache::TypeParseError&) {
    }
    return 0;
}
