// Store entries as bytes: one self-describing, sealed record per entry, the same for every tier
// that holds bytes (the disk tier; a remote tier later). Decoding is where untrusted bytes are
// parsed: every length is bounded, every field checked, and nothing is returned unless the seal
// matches and the key the entry describes is exactly the key asked for.
//
//   offset  size  field
//   0       8     magic "KCENTRY\0"
//   8       4     schema (kSchemaVersion), little endian like every integer here
//   12      1     kind: 1 content, 2 action
//   13      1     seal: 0 BLAKE3 checksum, 1 keyed BLAKE3 MAC
//   14      2     zero
//   16      32    the key's digest (ContentKey::digest / ActionKey::digest)
//   48      8     body length N
//   56      N     body: every key field, then the value (below)
//   56+N    32    seal over bytes [0, 56+N)
//
// Body fields in order; strings are u32 length + bytes, blobs u64 length + bytes:
//   key      schema u32, target (its registered name), arch, opt level u8, triple, cpu, features,
//            llvm version, tools, libraries, compiler id; then
//            content: ir digest
//            action:  entry source digest, function, argument types, method table
//   content  format, kernel symbol, llvm version, notes, static shared bytes u64,
//            prepare/optimize/emit ns u64 x3, bytes (blob), ptx (blob)
//   action   ir digest, dispatch count u32, then per dispatch: function, argument types,
//            chosen method's table, chosen method's source digest
//
// The seal is a checksum against torn writes, truncation and bit rot: whoever can write the
// store can also forge it, which is why the disk tier's directory is private to its user. A
// tier that others can write to seals with a MAC instead (Seal::mac), and then an entry with a
// plain checksum, or with a MAC under another key, is rejected like a corrupt one.
//
// Thread-safety: free functions and immutable values; safe to use concurrently.
#pragma once

#include "kernels/kernel_compiler.hpp"
#include "store/keys.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::store {

using kernels::ArtifactPtr;

/// How entries are sealed.
class Seal {
public:
    using MacKey = std::array<std::uint8_t, 32>;
    /// BLAKE3 of the entry.
    static Seal checksum() { return Seal(std::nullopt); }
    /// BLAKE3 keyed with a 32-byte secret (a MAC).
    static Seal mac(const MacKey& key) { return Seal(key); }
    /// The MAC key for a secret of any length (BLAKE3's key derivation, with kcache's context).
    static MacKey key_from_secret(std::string_view secret);

    bool is_mac() const { return key_.has_value(); }
    /// The 32-byte seal of `bytes`.
    std::array<std::uint8_t, 32> tag(std::span<const std::uint8_t> bytes) const;

private:
    explicit Seal(std::optional<MacKey> key) : key_(key) {}
    std::optional<MacKey> key_;
};

/// Hard limits on what a decoder accepts (and an encoder writes).
inline constexpr std::size_t kMaxEntryBytes = std::size_t(1) << 30; ///< 1 GiB
inline constexpr std::size_t kMaxFieldBytes = std::size_t(1) << 20; ///< strings: 1 MiB
inline constexpr std::size_t kMaxDispatches = 1 << 16;

/// The bytes of a content entry: `artifact` stored under `key`.
std::vector<std::uint8_t> encode_content(const ContentKey& key, const Artifact& artifact,
                                         const Seal& seal);
/// The bytes of an action entry.
std::vector<std::uint8_t> encode_action(const ActionEntry& entry, const Seal& seal);

/// A decoded entry, or why the bytes were rejected.
template <class T>
struct Decoded {
    T value{};         ///< null / empty when rejected
    std::string error; ///< empty when accepted
    /// Rejected by its seal: the wrong kind of seal, or a checksum or MAC that does not match
    /// (with a MAC: not written by someone holding the key).
    bool bad_seal = false;
    explicit operator bool() const { return error.empty(); }
};

/// The size of the entry that starts `bytes`, from its header (for values that hold two entries
/// one after the other); nullopt when the header is incomplete or the size past `bytes`' end.
std::optional<std::size_t> entry_size(std::span<const std::uint8_t> bytes);

/// The content entry in `bytes`, accepted only if its seal matches and it is stored under
/// exactly `expected` (every key field equal). The artifact's kind, arch and opt level are the
/// key's.
Decoded<ArtifactPtr> decode_content(std::span<const std::uint8_t> bytes, const ContentKey& expected,
                                    const Seal& seal);
/// The action entry in `bytes`, accepted only if its seal matches and its key is `expected`.
Decoded<std::shared_ptr<const ActionEntry>>
decode_action(std::span<const std::uint8_t> bytes, const ActionKey& expected, const Seal& seal);

/// What a well-sealed entry of either kind holds, whatever key it is under (for inspection and
/// fuzzing; the tiers use decode_content / decode_action).
struct AnyEntry {
    std::optional<ContentKey> content_key;
    ArtifactPtr artifact;                      ///< content entries
    std::shared_ptr<const ActionEntry> action; ///< action entries
};
Decoded<AnyEntry> decode_any(std::span<const std::uint8_t> bytes, const Seal& seal);

} // namespace kcache::store
