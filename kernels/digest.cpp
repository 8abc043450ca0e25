#include "kernels/digest.hpp"

#include "core/method.hpp"
#include "kernels/front_end.hpp"

namespace kcache::kernels {

std::string Digest::hex() const {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(2 * kSize, '0');
    for (std::size_t i = 0; i < kSize; ++i) {
        s[2 * i] = kHex[bytes[i] >> 4];
        s[2 * i + 1] = kHex[bytes[i] & 15];
    }
    return s;
}

std::optional<Digest> Digest::from_hex(std::string_view hex) {
    if (hex.size() != 2 * kSize)
        return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    Digest d;
    for (std::size_t i = 0; i < kSize; ++i) {
        const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        d.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return d;
}

DigestBuilder::DigestBuilder(std::string_view domain) {
    add(domain);
}

DigestBuilder& DigestBuilder::append(const void* data, std::size_t size) {
    hasher_.update(llvm::ArrayRef<std::uint8_t>(static_cast<const std::uint8_t*>(data), size));
    return *this;
}

DigestBuilder& DigestBuilder::add(std::uint64_t field) {
    std::uint8_t le[8];
    for (int i = 0; i < 8; ++i)
        le[i] = static_cast<std::uint8_t>(field >> (8 * i));
    return append(le, sizeof le);
}

DigestBuilder& DigestBuilder::add(std::string_view field) {
    add(static_cast<std::uint64_t>(field.size()));
    return append(field.data(), field.size());
}

DigestBuilder& DigestBuilder::add(const Digest& field) {
    return append(field.bytes.data(), field.bytes.size());
}

Digest DigestBuilder::finish() {
    Digest d;
    d.bytes = hasher_.final();
    return d;
}

const Digest* source_digest(const Method& method) {
    const FrontEnd* front_end = FrontEndRegistry::find(method.source_type());
    return front_end ? front_end->source_digest(method) : nullptr;
}

} // namespace kcache::kernels
