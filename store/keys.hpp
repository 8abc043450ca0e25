// The store's keys. Two kinds of entries, as in Bazel's remote cache:
//
//  * content entries (`cas/`): compiled code, keyed by what it was compiled from and with. The
//    content key is BLAKE3 over every field of ContentKey below; two kernels whose canonical
//    prepared IR is the same (store/canonical_ir.hpp) share one entry.
//  * action entries (`ac/`): "compiling this entry method for these argument types, spec and
//    toolchain gave that content", plus every dispatch the build made, so that a later process
//    can skip building the IR after checking that each dispatch still chooses the same source.
//
// Anything that can change the bytes of an artifact must be in its key; a key that forgets an
// input serves wrong code (LLVM's ThinLTO cache: "FIXME: Hash more of Options"). Each field below
// says why it is there. Thread-safety: plain values; the free functions are thread-safe.
#pragma once

#include "core/types.hpp"
#include "kernels/digest.hpp"
#include "targets/target.hpp"
#include "targets/target_spec.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kcache::store {

using kernels::Digest;

/// Bumped whenever the entry format, the canonical form, or what a key field means changes:
/// entries of another schema are never read.
inline constexpr std::uint32_t kSchemaVersion = 2;

/// BLAKE3 of kcache's own sources that shape artifacts (kernels/, targets/ and the store's
/// canonical form), computed when kcache is built. The IR a kernel builds into and the passes
/// it goes through are kcache code: a changed kcache must not be served its old artifacts.
std::string_view compiler_id();

/// How code is compiled, apart from the code itself: the part both keys share.
struct CompileEnv {
    /// The store schema (kSchemaVersion): the layout of entries and of this key.
    std::uint32_t schema = kSchemaVersion;
    /// Target kind, arch (the CPU the code is generated for) and opt level (the pass pipeline
    /// and, on nvptx, ptxas's -O).
    TargetSpec spec;
    /// Triple, CPU, target features (on the host: this CPU's, which the same CPU name does not
    /// pin down), LLVM's version (passes and backends), the tools that make the final bytes and
    /// their versions (nvJitLink, or "PTX only" when it is absent — then the bytes are PTX, not
    /// a cubin; lld for HSACO), and the bitcode libraries prepare links in (libdevice).
    Toolchain toolchain;
    /// compiler_id(): kcache's IR generation, preparation and pipelines.
    std::string compiler;

    friend bool operator==(const CompileEnv&, const CompileEnv&) = default;
};

/// The environment `spec` compiles in, in this process (the toolchain is found once per spec
/// and kept). Throws what Target::resolve throws for a bad spec.
const CompileEnv& compile_env(const TargetSpec& spec);

/// The key of compiled code.
struct ContentKey {
    CompileEnv env;
    /// BLAKE3 of the canonical prepared module: the code itself, callees and linked libraries
    /// included, with names that do not reach the code canonicalised away.
    Digest ir;

    Digest digest() const;
    friend bool operator==(const ContentKey&, const ContentKey&) = default;
};

/// The key of one compilation: what the build reads before any dispatch.
struct ActionKey {
    CompileEnv env;
    /// The entry method's source digest (kernels/digest.hpp): its IR, or its generator version.
    Digest entry_source;
    /// The generic function compiled, and its argument types (elements of the Tuple,
    /// comma-separated, as parse_type_list reads them): a method instance's code depends on its
    /// specialisation types and static parameters, not only on its method.
    std::string function;
    std::string arg_types;
    /// The method table the compilation dispatches through: the same call can choose another
    /// method through another table.
    std::string table;

    Digest digest() const;
    friend bool operator==(const ActionKey&, const ActionKey&) = default;
};

/// One dispatch a build made, as recorded: a call of `function` with `arg_types` chose a method
/// of `chosen_table` whose source digest was `chosen_source`.
struct DispatchRecord {
    std::string function;
    std::string arg_types;
    std::string chosen_table;
    Digest chosen_source;
    friend bool operator==(const DispatchRecord&, const DispatchRecord&) = default;
};

/// The value of an action entry.
struct ActionEntry {
    ActionKey key;
    /// The content the compilation produced: ContentKey{key.env, ir}.
    Digest ir;
    /// Every distinct dispatch the build made, in the order it made them.
    std::vector<DispatchRecord> dispatches;

    ContentKey content_key() const { return ContentKey{key.env, ir}; }
    friend bool operator==(const ActionEntry&, const ActionEntry&) = default;
};

/// `tt`'s element types as ActionKey::arg_types and DispatchRecord::arg_types spell them.
std::string arg_types_of(Type tt);

} // namespace kcache::store
