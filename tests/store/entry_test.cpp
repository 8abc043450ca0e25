// Entries as bytes (store/entry.hpp): round trips, and every corruption, truncation, wrong key,
// forged header or wrong seal is rejected with a reason, never accepted or crashed on.
#include "store/entry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace kcache::test {
namespace {

using namespace store;
using kernels::Digest;

ContentKey content_key() {
    ContentKey k{compile_env({TargetKind::nvptx(), "sm_80", 2}), Digest{}};
    for (std::size_t i = 0; i < k.ir.bytes.size(); ++i)
        k.ir.bytes[i] = static_cast<std::uint8_t>(i * 7);
    return k;
}

Artifact artifact() {
    Artifact a;
    a.kind = TargetKind::nvptx();
    a.arch = "sm_80";
    a.opt_level = 2;
    a.kernel_symbol = "kcache_kernel";
    a.llvm_version = "19.1.7";
    a.format = "cubin";
    a.bytes = {0x7f, 'E', 'L', 'F', 1, 2, 3};
    a.ptx = ".version 8.0\n.target sm_80\n";
    a.notes = "";
    a.static_shared_bytes = 1024;
    a.times.emit = std::chrono::nanoseconds(12345);
    return a;
}

ActionEntry action() {
    ActionEntry e;
    e.key = ActionKey{compile_env({TargetKind::host(), "", 2}), Digest{}, "saxpy",
                      "Float32,Ptr{Float32},Ptr{Float32},Int32", "global"};
    e.key.entry_source.bytes[0] = 9;
    e.ir.bytes[5] = 1;
    e.dispatches.push_back({"muladd", "Float32,Float32,Float32", "global", Digest{}});
    e.dispatches.push_back({"exp", "Float32", "device", Digest{}});
    e.dispatches[1].chosen_source.bytes[3] = 4;
    return e;
}

TEST(Entry, ContentRoundTrips) {
    const ContentKey key = content_key();
    const auto bytes = encode_content(key, artifact(), Seal::checksum());
    auto d = decode_content(bytes, key, Seal::checksum());
    ASSERT_TRUE(d) << d.error;
    const Artifact& a = *d.value;
    const Artifact b = artifact();
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.arch, b.arch);
    EXPECT_EQ(a.opt_level, b.opt_level);
    EXPECT_EQ(a.kernel_symbol, b.kernel_symbol);
    EXPECT_EQ(a.llvm_version, b.llvm_version);
    EXPECT_EQ(a.format, b.format);
    EXPECT_EQ(a.bytes, b.bytes);
    EXPECT_EQ(a.ptx, b.ptx);
    EXPECT_EQ(a.static_shared_bytes, b.static_shared_bytes);
    EXPECT_EQ(a.times.emit, b.times.emit);
}

TEST(Entry, ActionRoundTrips) {
    const ActionEntry e = action();
    const auto bytes = encode_action(e, Seal::checksum());
    auto d = decode_action(bytes, e.key, Seal::checksum());
    ASSERT_TRUE(d) << d.error;
    EXPECT_EQ(*d.value, e);
    auto any = decode_any(bytes, Seal::checksum());
    ASSERT_TRUE(any) << any.error;
    ASSERT_TRUE(any.value.action);
    EXPECT_EQ(*any.value.action, e);
}

TEST(Entry, EveryFlippedByteIsRejected) {
    const ContentKey key = content_key();
    const auto good = encode_content(key, artifact(), Seal::checksum());
    for (std::size_t i = 0; i < good.size(); ++i) {
        auto bad = good;
        bad[i] ^= 0x20;
        auto d = decode_content(bad, key, Seal::checksum());
        EXPECT_FALSE(d) << "byte " << i;
        EXPECT_FALSE(d.value);
        EXPECT_FALSE(d.error.empty());
    }
}

TEST(Entry, EveryTruncationAndAnyExtensionIsRejected) {
    const ActionEntry e = action();
    const auto good = encode_action(e, Seal::checksum());
    for (std::size_t n = 0; n < good.size(); ++n) {
        auto d = decode_action(std::span(good.data(), n), e.key, Seal::checksum());
        EXPECT_FALSE(d) << "length " << n;
    }
    auto longer = good;
    longer.push_back(0);
    EXPECT_FALSE(decode_action(longer, e.key, Seal::checksum()));
}

TEST(Entry, AnotherKeyOrKindIsRejected) {
    const ContentKey key = content_key();
    const auto bytes = encode_content(key, artifact(), Seal::checksum());
    ContentKey other = key;
    other.env.spec.arch = "sm_90";
    auto d = decode_content(bytes, other, Seal::checksum());
    EXPECT_FALSE(d);
    EXPECT_NE(d.error.find("not the key asked for"), std::string::npos) << d.error;

    const ActionEntry e = action();
    auto as_content = decode_content(encode_action(e, Seal::checksum()), key, Seal::checksum());
    EXPECT_FALSE(as_content);
    EXPECT_NE(as_content.error.find("action entry"), std::string::npos) << as_content.error;
}

TEST(Entry, AForgedHeaderKeyIsRejectedEvenWithAValidChecksum) {
    // Someone rewrites the header to claim key A for a body that describes key B, and seals it
    // again: the key fields must hash to the header's key.
    const ContentKey a = content_key();
    ContentKey b = a;
    b.env.spec.opt_level = 3;
    auto bytes = encode_content(b, artifact(), Seal::checksum());
    const Digest da = a.digest();
    std::copy(da.bytes.begin(), da.bytes.end(), bytes.begin() + 16);
    const auto tag = Seal::checksum().tag(std::span(bytes.data(), bytes.size() - 32));
    std::copy(tag.begin(), tag.end(), bytes.end() - 32);
    auto d = decode_content(bytes, a, Seal::checksum());
    EXPECT_FALSE(d);
    EXPECT_NE(d.error.find("do not hash to the header's key"), std::string::npos) << d.error;
}

TEST(Entry, SealsMustMatch) {
    Seal::MacKey k1{}, k2{};
    k1[0] = 1;
    k2[0] = 2;
    const ContentKey key = content_key();
    const auto macced = encode_content(key, artifact(), Seal::mac(k1));
    EXPECT_TRUE(decode_content(macced, key, Seal::mac(k1)));
    auto wrong_key = decode_content(macced, key, Seal::mac(k2));
    EXPECT_FALSE(wrong_key);
    EXPECT_NE(wrong_key.error.find("MAC mismatch"), std::string::npos) << wrong_key.error;
    EXPECT_FALSE(decode_content(macced, key, Seal::checksum()));
    // A tier that requires a MAC takes no entry with a mere checksum, which anyone can compute.
    const auto checksummed = encode_content(key, artifact(), Seal::checksum());
    auto no_mac = decode_content(checksummed, key, Seal::mac(k1));
    EXPECT_FALSE(no_mac);
    EXPECT_NE(no_mac.error.find("MAC is required"), std::string::npos) << no_mac.error;
    EXPECT_NE(Seal::mac(k1).tag(macced), Seal::checksum().tag(macced));
}

// Entries name their target as registered; a reader that has no such target, or an artifact in
// a format its target does not produce, rejects the entry (it is then recompiled).
TEST(Entry, TargetsAreReadBackByNameAndMustBeRegisteredWithTheirFormats) {
    const ContentKey key = content_key();
    auto bytes = encode_content(key, artifact(), Seal::checksum());
    const std::string name(to_string(key.env.spec.kind));
    const auto at = std::search(bytes.begin() + 56, bytes.end(), name.begin(), name.end());
    ASSERT_NE(at, bytes.end());
    *(at + name.size() - 1) = 'q'; // "nvptq": registered nowhere
    const auto tag = Seal::checksum().tag(std::span(bytes.data(), bytes.size() - 32));
    std::copy(tag.begin(), tag.end(), bytes.end() - 32);
    auto d = decode_any(bytes, Seal::checksum());
    EXPECT_FALSE(d);
    EXPECT_NE(d.error.find("target 'nvptq' is not registered"), std::string::npos) << d.error;

    Artifact hsaco = artifact();
    hsaco.format = "hsaco"; // amdgpu's format, not nvptx's
    auto wrong =
        decode_content(encode_content(key, hsaco, Seal::checksum()), key, Seal::checksum());
    EXPECT_FALSE(wrong);
    EXPECT_NE(wrong.error.find("format 'hsaco' is not one of nvptx's"), std::string::npos)
        << wrong.error;
}

TEST(Entry, HugeLengthsInAWellSealedBodyAreRejected) {
    // A body claiming a 4 GiB string, sealed correctly: parsed without reading past the end.
    const ActionEntry e = action();
    auto bytes = encode_action(e, Seal::checksum());
    // Schema, the target's name (u32 length and bytes), then arch's u32 length.
    const std::size_t arch_length_at = 56 + 4 + 4 + to_string(e.key.env.spec.kind).size();
    for (int i = 0; i < 4; ++i)
        bytes[arch_length_at + i] = 0xff;
    const auto tag = Seal::checksum().tag(std::span(bytes.data(), bytes.size() - 32));
    std::copy(tag.begin(), tag.end(), bytes.end() - 32);
    auto d = decode_any(bytes, Seal::checksum());
    EXPECT_FALSE(d);
    EXPECT_NE(d.error.find("arch"), std::string::npos) << d.error;
}

// The fuzzer's seeds (tests/fuzz/corpus/store_entry): entries of today's format, with fixed keys
// so that they are the same on every machine.
std::map<std::string, std::vector<std::uint8_t>> fuzz_seeds() {
    CompileEnv env;
    env.spec = {TargetKind::nvptx(), "sm_80", 2};
    env.toolchain = {"nvptx64-nvidia-cuda", "sm_80", "+ptx70", "19.1.7", "PTX only",
                     "no libdevice"};
    env.compiler = std::string(64, 'c');
    ContentKey ck{env, Digest{}};
    ck.ir.bytes[0] = 1;
    Artifact a = artifact();
    ActionEntry e = action();
    e.key.env = env;
    ActionEntry empty = e;
    empty.dispatches.clear();
    Seal::MacKey key{};
    key[0] = 0x6b; // the key the fuzzer re-seals MAC entries with
    return {{"content.entry", encode_content(ck, a, Seal::checksum())},
            {"action.entry", encode_action(e, Seal::checksum())},
            {"action-no-dispatch.entry", encode_action(empty, Seal::checksum())},
            {"content-mac.entry", encode_content(ck, a, Seal::mac(key))}};
}

TEST(Entry, TheFuzzSeedsAreEntriesOfThisFormat) {
    const std::filesystem::path corpus = KCACHE_FUZZ_CORPUS;
    for (const auto& [name, bytes] : fuzz_seeds()) {
        SCOPED_TRACE(name);
        if (std::getenv("KCACHE_WRITE_FUZZ_SEEDS")) {
            std::ofstream f(corpus / name, std::ios::binary | std::ios::trunc);
            f.write(reinterpret_cast<const char*>(bytes.data()),
                    static_cast<std::streamsize>(bytes.size()));
        }
        std::ifstream f(corpus / name, std::ios::binary);
        const std::vector<std::uint8_t> stored{std::istreambuf_iterator<char>(f), {}};
        EXPECT_EQ(stored, bytes) << "the entry format changed: regenerate the seeds with "
                                    "KCACHE_WRITE_FUZZ_SEEDS=1 kcache_store_tests "
                                    "--gtest_filter=Entry.TheFuzzSeeds*";
    }
}

} // namespace
} // namespace kcache::test
