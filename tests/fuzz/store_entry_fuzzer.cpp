// Fuzzes the store's entry decoder (store/entry.hpp), the parser of untrusted bytes from disk.
// Each input is decoded as it is — magic, header and seal checks — and again re-sealed, since a
// fuzzer cannot forge a BLAKE3 checksum: with its body length and seal made right, the body
// parser behind the seal sees every mutation. Nothing may crash, leak or read out of bounds
// (AddressSanitizer, UndefinedBehaviorSanitizer), whatever the bytes.
#include "store/entry.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using namespace kcache::store;

constexpr std::size_t kHeader = 56, kSeal = 32;

void decode_all(std::span<const std::uint8_t> bytes, const Seal& seal) {
    static const ContentKey content{};
    static const ActionKey action{};
    auto any = decode_any(bytes, seal);
    if (any && any.value.artifact) // touch what was decoded
        (void)any.value.artifact->bytes.size();
    (void)decode_content(bytes, content, seal);
    (void)decode_action(bytes, action, seal);
    if (any && any.value.content_key)
        (void)decode_content(bytes, *any.value.content_key, seal);
    if (any && any.value.action)
        (void)decode_action(bytes, any.value.action->key, seal);
    // A Redis action value: an action entry, then the content entry it names
    // (store/tiers/redis/redis_tier.cpp), split at the first entry's size.
    if (const auto first = entry_size(bytes)) {
        if (*first > bytes.size())
            __builtin_trap(); // a size past the end would be read out of bounds
        (void)decode_any(bytes.subspan(*first), seal);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Seal checksum = Seal::checksum();
    decode_all({data, size}, checksum);
    if (size < kHeader + kSeal)
        return 0;
    std::vector<std::uint8_t> resealed(data, data + size);
    const std::uint64_t body = size - kHeader - kSeal;
    for (int i = 0; i < 8; ++i)
        resealed[48 + i] = static_cast<std::uint8_t>(body >> (8 * i));
    const bool mac = resealed[13] == 1;
    Seal::MacKey key{};
    key[0] = 0x6b;
    const Seal seal = mac ? Seal::mac(key) : checksum;
    const auto tag = seal.tag({resealed.data(), size - kSeal});
    std::memcpy(resealed.data() + size - kSeal, tag.data(), kSeal);
    decode_all(resealed, seal);
    return 0;
}
