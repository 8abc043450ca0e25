// Digests: 256-bit BLAKE3 hashes naming sources and compiled code, and the source digest of a
// method — what lets a persistent cache tell, without building anything, whether a method is
// the one it recorded.
#pragma once

#include <llvm/Support/BLAKE3.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kcache {
class Method;
}

namespace kcache::kernels {

/// A 256-bit BLAKE3 digest. Thread-safety: a plain value.
struct Digest {
    static constexpr std::size_t kSize = 32;
    std::array<std::uint8_t, kSize> bytes{};

    /// 64 lowercase hex digits.
    std::string hex() const;
    /// The digest `hex` spells (64 hex digits, either case); nullopt for anything else.
    static std::optional<Digest> from_hex(std::string_view hex);

    friend bool operator==(const Digest&, const Digest&) = default;
};

/// BLAKE3 over a sequence of fields. Each field is framed by its length, so ("ab", "c") and
/// ("a", "bc") hash differently; the domain string keeps digests of different things apart.
/// Thread-safety: one builder per thread.
class DigestBuilder {
public:
    explicit DigestBuilder(std::string_view domain);
    DigestBuilder& add(std::string_view field);
    DigestBuilder& add(std::uint64_t field);
    DigestBuilder& add(const Digest& field);
    /// Bytes of a stream, unframed: appending "ab" then "c" is appending "abc".
    DigestBuilder& append(const void* data, std::size_t size);
    Digest finish();

private:
    llvm::BLAKE3 hasher_;
};

/// The source digest of `method`, as the front end of its source type gives it
/// (FrontEnd::source_digest, kernels/front_end.hpp): for an LLVM IR method, set when it is added
/// (its IR, entry name, function and signature); for a generator, when it is added with a version
/// (its version, function, signature, return type and method table); nullptr for any other
/// method. Thread-safety: thread-safe (methods are immutable).
const Digest* source_digest(const Method& method);

} // namespace kcache::kernels
