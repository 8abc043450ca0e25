#include "store/entry.hpp"

#include "core/excerpt.hpp"
#include "targets/target.hpp"
#include "targets/target_registry.hpp"

#include <llvm-c/blake3.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace kcache::store {
namespace {

constexpr char kMagic[8] = {'K', 'C', 'E', 'N', 'T', 'R', 'Y', '\0'};
constexpr std::size_t kHeaderBytes = 56;
constexpr std::size_t kSealBytes = 32;
constexpr std::uint8_t kContent = 1, kAction = 2;

class Writer {
public:
    void u8(std::uint8_t v) { out.push_back(v); }
    void u16(std::uint16_t v) { le(v, 2); }
    void u32(std::uint32_t v) { le(v, 4); }
    void u64(std::uint64_t v) { le(v, 8); }
    void bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }
    void blob(const void* p, std::size_t n) {
        u64(n);
        bytes(p, n);
    }
    void digest(const Digest& d) { bytes(d.bytes.data(), d.bytes.size()); }
    std::vector<std::uint8_t> out;

private:
    void le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
};

// Reads a bounded span; the first failure sticks and every later read returns zeros.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    bool at_end() const { return pos_ == in_.size(); }
    void fail(std::string why) {
        if (error_.empty())
            error_ = std::move(why);
    }

    std::uint64_t le(int n, const char* what) {
        if (!take(static_cast<std::size_t>(n), what))
            return 0;
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i)
            v |= std::uint64_t(in_[pos_ - n + i]) << (8 * i);
        return v;
    }
    std::uint8_t u8(const char* what) { return static_cast<std::uint8_t>(le(1, what)); }
    std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(le(4, what)); }
    std::uint64_t u64(const char* what) { return le(8, what); }
    std::string str(const char* what) {
        const std::uint32_t n = u32(what);
        if (n > kMaxFieldBytes) {
            fail(std::string(what) + ": length " + std::to_string(n) + " over the limit");
            return {};
        }
        if (!take(n, what))
            return {};
        return std::string(reinterpret_cast<const char*>(in_.data() + pos_ - n), n);
    }
    template <class Container>
    Container blob(const char* what) {
        const std::uint64_t n = u64(what);
        if (n > in_.size() - pos_) {
            fail(std::string(what) + ": length " + std::to_string(n) + " past the end");
            return {};
        }
        if (!take(static_cast<std::size_t>(n), what))
            return {};
        const auto* p = in_.data() + pos_ - n;
        return Container(p, p + n);
    }
    Digest digest(const char* what) {
        Digest d;
        if (take(d.bytes.size(), what))
            std::memcpy(d.bytes.data(), in_.data() + pos_ - d.bytes.size(), d.bytes.size());
        return d;
    }

private:
    bool take(std::size_t n, const char* what) {
        if (!ok())
            return false;
        if (n > in_.size() - pos_) {
            fail(std::string("truncated at ") + what);
            return false;
        }
        pos_ += n;
        return true;
    }
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
    std::string error_;
};

void write_env(Writer& w, const CompileEnv& env) {
    const Toolchain& t = env.toolchain;
    w.u32(env.schema);
    w.str(to_string(env.spec.kind));
    w.str(env.spec.arch);
    w.u8(static_cast<std::uint8_t>(env.spec.opt_level));
    for (const std::string* s :
         {&t.triple, &t.cpu, &t.features, &t.llvm_version, &t.tools, &t.libraries, &env.compiler})
        w.str(*s);
}

CompileEnv read_env(Reader& r) {
    CompileEnv env;
    env.schema = r.u32("key schema");
    const std::string target = r.str("target");
    env.spec.kind = TargetRegistry::find(target);
    if (r.ok() && !env.spec.kind)
        r.fail("target '" + excerpt(target) + "' is not registered in this process");
    env.spec.arch = r.str("arch");
    const std::uint8_t opt = r.u8("opt level");
    if (opt > 3)
        r.fail("opt level " + std::to_string(opt) + " outside 0..3");
    env.spec.opt_level = opt;
    Toolchain& t = env.toolchain;
    t.triple = r.str("triple");
    t.cpu = r.str("cpu");
    t.features = r.str("features");
    t.llvm_version = r.str("llvm version");
    t.tools = r.str("tools");
    t.libraries = r.str("libraries");
    env.compiler = r.str("compiler id");
    return env;
}

std::vector<std::uint8_t> seal_entry(std::uint8_t kind, const Digest& key, Writer& body,
                                     const Seal& seal) {
    Writer w;
    w.bytes(kMagic, sizeof kMagic);
    w.u32(kSchemaVersion);
    w.u8(kind);
    w.u8(seal.is_mac() ? 1 : 0);
    w.u16(0);
    w.digest(key);
    w.u64(body.out.size());
    w.out.reserve(kHeaderBytes + body.out.size() + kSealBytes);
    w.bytes(body.out.data(), body.out.size());
    const auto tag = seal.tag(w.out);
    w.bytes(tag.data(), tag.size());
    return std::move(w.out);
}

struct Unsealed {
    std::uint8_t kind = 0;
    Digest key;
    std::span<const std::uint8_t> body;
};

// Header and seal; the body is left to the caller. `bad_seal` says the seal rejected it.
Unsealed open_entry(std::span<const std::uint8_t> bytes, const Seal& seal, std::string& error,
                    bool& bad_seal) {
    Unsealed u;
    if (bytes.size() > kMaxEntryBytes) {
        error = "entry of " + std::to_string(bytes.size()) + " bytes is over the limit";
        return u;
    }
    if (bytes.size() < kHeaderBytes + kSealBytes) {
        error = "entry of " + std::to_string(bytes.size()) + " bytes is shorter than a header";
        return u;
    }
    if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
        error = "not a kcache entry (bad magic)";
        return u;
    }
    Reader r(bytes.subspan(sizeof kMagic, kHeaderBytes - sizeof kMagic));
    const std::uint32_t schema = r.u32("schema");
    u.kind = r.u8("kind");
    const std::uint8_t sealing = r.u8("seal");
    const std::uint64_t reserved = r.le(2, "reserved");
    u.key = r.digest("key");
    const std::uint64_t body = r.u64("body length");
    if (schema != kSchemaVersion) {
        error = "schema " + std::to_string(schema) + ", not " + std::to_string(kSchemaVersion);
        return u;
    }
    if (u.kind != kContent && u.kind != kAction) {
        error = "unknown entry kind " + std::to_string(u.kind);
        return u;
    }
    if (sealing != (seal.is_mac() ? 1 : 0) || reserved != 0) {
        bad_seal = reserved == 0;
        error = sealing == 1   ? "sealed with a MAC where a checksum is expected"
                : sealing == 0 ? "sealed with a checksum where a MAC is required"
                               : "unknown seal " + std::to_string(sealing);
        return u;
    }
    if (body != bytes.size() - kHeaderBytes - kSealBytes) {
        error = "body length " + std::to_string(body) + " does not match the entry's size " +
                std::to_string(bytes.size());
        return u;
    }
    const auto sealed = bytes.first(kHeaderBytes + body);
    const auto tag = seal.tag(sealed);
    // Compared in full, without an early exit: with a MAC the time must not tell the prefix.
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < kSealBytes; ++i)
        diff |= tag[i] ^ bytes[kHeaderBytes + body + i];
    if (diff != 0) {
        bad_seal = true;
        error = seal.is_mac() ? "MAC mismatch" : "checksum mismatch";
        return u;
    }
    u.body = bytes.subspan(kHeaderBytes, body);
    return u;
}

ArtifactPtr read_content_value(Reader& r, const CompileEnv& env) {
    Artifact a;
    a.kind = env.spec.kind;
    a.arch = env.spec.arch;
    a.opt_level = env.spec.opt_level;
    a.format = r.str("format");
    if (r.ok()) {
        const auto formats = a.kind.target().artifact_formats();
        if (std::find(formats.begin(), formats.end(), a.format) == formats.end())
            r.fail("format '" + excerpt(a.format) + "' is not one of " +
                   std::string(to_string(a.kind)) + "'s");
    }
    a.kernel_symbol = r.str("kernel symbol");
    a.llvm_version = r.str("artifact llvm version");
    a.notes = r.str("notes");
    a.static_shared_bytes = r.u64("static shared bytes");
    const auto ns = [&](const char* what) {
        const std::uint64_t v = r.u64(what);
        if (v > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
            r.fail(std::string(what) + " out of range");
        return std::chrono::nanoseconds(static_cast<std::int64_t>(v));
    };
    a.times.prepare = ns("prepare time");
    a.times.optimize = ns("optimize time");
    a.times.emit = ns("emit time");
    a.bytes = r.blob<std::vector<std::uint8_t>>("bytes");
    a.ptx = r.blob<std::string>("ptx");
    if (r.ok() && a.kernel_symbol.empty())
        r.fail("empty kernel symbol");
    if (r.ok() && a.bytes.empty())
        r.fail("empty payload");
    return r.ok() ? std::make_shared<const Artifact>(std::move(a)) : nullptr;
}

std::shared_ptr<ActionEntry> read_action_value(Reader& r, ActionKey key) {
    auto e = std::make_shared<ActionEntry>();
    e->key = std::move(key);
    e->ir = r.digest("content ir digest");
    const std::uint32_t n = r.u32("dispatch count");
    if (n > kMaxDispatches) {
        r.fail("dispatch count " + std::to_string(n) + " over the limit");
        return nullptr;
    }
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
        DispatchRecord d;
        d.function = r.str("dispatch function");
        d.arg_types = r.str("dispatch argument types");
        d.chosen_table = r.str("dispatch method table");
        d.chosen_source = r.digest("dispatch source digest");
        if (r.ok() && d.function.empty())
            r.fail("dispatch " + std::to_string(i) + " names no function");
        e->dispatches.push_back(std::move(d));
    }
    return r.ok() ? e : nullptr;
}

ContentKey read_content_key(Reader& r) {
    ContentKey k;
    k.env = read_env(r);
    k.ir = r.digest("ir digest");
    return k;
}

ActionKey read_action_key(Reader& r) {
    ActionKey k;
    k.env = read_env(r);
    k.entry_source = r.digest("entry source digest");
    k.function = r.str("function");
    k.arg_types = r.str("argument types");
    k.table = r.str("method table");
    return k;
}

// The key fields must describe the header's key, and the body must end where its length says.
template <class Key>
void check_key(Reader& r, const Key& key, const Digest& header) {
    if (r.ok() && key.digest() != header)
        r.fail("the key fields do not hash to the header's key");
    if (r.ok() && key.env.schema != kSchemaVersion)
        r.fail("key schema " + std::to_string(key.env.schema));
}

void check_end(Reader& r) {
    if (r.ok() && !r.at_end())
        r.fail("trailing bytes after the last field");
}

// An entry of `kind` stored under exactly `expected`: seal, kind, header key, key fields, value.
template <class Value, class Key, class ReadKey, class ReadValue>
Decoded<Value> decode_keyed(std::span<const std::uint8_t> bytes, const Seal& seal,
                            std::uint8_t kind, const Key& expected, ReadKey read_key,
                            ReadValue read_value) {
    Decoded<Value> out;
    Unsealed u = open_entry(bytes, seal, out.error, out.bad_seal);
    if (!out.error.empty())
        return out;
    if (u.kind != kind) {
        out.error = kind == kContent ? "an action entry where a content entry was expected"
                                     : "a content entry where an action entry was expected";
        return out;
    }
    if (u.key != expected.digest()) {
        out.error = "stored under key " + u.key.hex() + ", not the key asked for";
        return out;
    }
    Reader r(u.body);
    Key key = read_key(r);
    check_key(r, key, u.key);
    if (r.ok() && !(key == expected))
        r.fail("the key fields differ from the key asked for");
    Value value = read_value(r, std::move(key));
    check_end(r);
    if (r.ok())
        out.value = std::move(value);
    else
        out.error = r.error();
    return out;
}

} // namespace

std::array<std::uint8_t, 32> Seal::tag(std::span<const std::uint8_t> bytes) const {
    llvm_blake3_hasher h;
    if (key_)
        llvm_blake3_hasher_init_keyed(&h, key_->data());
    else
        llvm_blake3_hasher_init(&h);
    llvm_blake3_hasher_update(&h, bytes.data(), bytes.size());
    std::array<std::uint8_t, 32> out;
    llvm_blake3_hasher_finalize(&h, out.data(), out.size());
    return out;
}

Seal::MacKey Seal::key_from_secret(std::string_view secret) {
    llvm_blake3_hasher h;
    llvm_blake3_hasher_init_derive_key(&h, "kcache 2026-11 store entry MAC key");
    llvm_blake3_hasher_update(&h, secret.data(), secret.size());
    MacKey key;
    llvm_blake3_hasher_finalize(&h, key.data(), key.size());
    return key;
}

std::optional<std::size_t> entry_size(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < kHeaderBytes)
        return std::nullopt;
    Reader r(bytes.subspan(kHeaderBytes - 8, 8));
    const std::uint64_t body = r.u64("body length");
    if (body > bytes.size() - kHeaderBytes || kSealBytes > bytes.size() - kHeaderBytes - body)
        return std::nullopt;
    return static_cast<std::size_t>(kHeaderBytes + body + kSealBytes);
}

std::vector<std::uint8_t> encode_content(const ContentKey& key, const Artifact& a,
                                         const Seal& seal) {
    Writer w;
    write_env(w, key.env);
    w.digest(key.ir);
    w.str(a.format);
    w.str(a.kernel_symbol);
    w.str(a.llvm_version);
    w.str(a.notes.size() > kMaxFieldBytes ? a.notes.substr(0, kMaxFieldBytes) : a.notes);
    w.u64(a.static_shared_bytes);
    w.u64(static_cast<std::uint64_t>(a.times.prepare.count()));
    w.u64(static_cast<std::uint64_t>(a.times.optimize.count()));
    w.u64(static_cast<std::uint64_t>(a.times.emit.count()));
    w.blob(a.bytes.data(), a.bytes.size());
    w.blob(a.ptx.data(), a.ptx.size());
    return seal_entry(kContent, key.digest(), w, seal);
}

std::vector<std::uint8_t> encode_action(const ActionEntry& e, const Seal& seal) {
    Writer w;
    write_env(w, e.key.env);
    w.digest(e.key.entry_source);
    w.str(e.key.function);
    w.str(e.key.arg_types);
    w.str(e.key.table);
    w.digest(e.ir);
    w.u32(static_cast<std::uint32_t>(e.dispatches.size()));
    for (const DispatchRecord& d : e.dispatches) {
        w.str(d.function);
        w.str(d.arg_types);
        w.str(d.chosen_table);
        w.digest(d.chosen_source);
    }
    return seal_entry(kAction, e.key.digest(), w, seal);
}

Decoded<ArtifactPtr> decode_content(std::span<const std::uint8_t> bytes, const ContentKey& expected,
                                    const Seal& seal) {
    return decode_keyed<ArtifactPtr>(
        bytes, seal, kContent, expected, read_content_key,
        [](Reader& r, ContentKey key) { return read_content_value(r, key.env); });
}

Decoded<std::shared_ptr<const ActionEntry>>
decode_action(std::span<const std::uint8_t> bytes, const ActionKey& expected, const Seal& seal) {
    return decode_keyed<std::shared_ptr<const ActionEntry>>(bytes, seal, kAction, expected,
                                                            read_action_key, read_action_value);
}

Decoded<AnyEntry> decode_any(std::span<const std::uint8_t> bytes, const Seal& seal) {
    Decoded<AnyEntry> out;
    Unsealed u = open_entry(bytes, seal, out.error, out.bad_seal);
    if (!out.error.empty())
        return out;
    Reader r(u.body);
    if (u.kind == kContent) {
        ContentKey key = read_content_key(r);
        check_key(r, key, u.key);
        out.value.artifact = read_content_value(r, key.env);
        out.value.content_key = std::move(key);
    } else {
        ActionKey key = read_action_key(r);
        check_key(r, key, u.key);
        out.value.action = read_action_value(r, std::move(key));
    }
    check_end(r);
    if (!r.ok()) {
        out.error = r.error();
        out.value = AnyEntry{};
    }
    return out;
}

} // namespace kcache::store
