// LLVM IR methods: a method whose source is LLVM IR (text or bitcode) for one concrete signature.
//
// The convention the kernel compiler reads such IR with:
//
//  * Entry. The IR defines the method's function, named `entry` (the generic function's name
//    unless told). Its parameters are the LLVM types of the signature's types
//    (kernels/type_names.hpp: Float32 -> float, Int32 -> i32, Ptr{T} -> ptr addrspace(1) on the
//    built-in targets: the compiling target's number for the global space, ...).
//    For a kernel it returns void; for a helper any LLVM type.
//  * Builtins. `kcache.*` declarations are the portable builtins (targets/builtins.hpp) and
//    `llvm.*` declarations are intrinsics; both are left to the target.
//  * Generic calls. Every other declaration that is used is a call of a generic function
//    (unused ones are dropped), resolved by dispatch
//    against the compiling cache's method table (overlays first) in the compilation's world:
//      - the symbol names the function; a suffix after the first '$' is ignored, so one module
//        can call a function with several type tuples: `@muladd$f32`, `@muladd$f64`;
//      - the declaration carries `!kcache.types`, one lattice type name per parameter, because
//        LLVM types cannot tell Int32 from UInt32 or give a pointer's element type:
//          declare !kcache.types !{!"Float32", !"Float32", !"Float32"}
//              float @muladd$f32(float, float, float)
//      - each listed type must be concrete and lower to the declared LLVM parameter type, and the
//        declared return type must be the callee specialisation's return type.
//    The callee's specialisation is compiled into the same module (once per module, recursion
//    allowed), linked in, and recorded as a dependency: redefining it recompiles the caller.
//  * Everything else the IR defines (helper functions, `addrspace(3)` shared-memory globals) is
//    private to the method: it is given internal linkage before linking.
//
// IR that breaks the convention is rejected with IRConventionError (method, symbol, line);
// text that does not parse with IRParseError (line, column); IR the verifier rejects with
// VerifierError naming the function. IR the compiling target cannot take -- a call of another
// target's intrinsic (llvm.nvvm.* on amdgpu), arithmetic in a floating-point type the target
// cannot lower (fp128 on a GPU) -- is an IRConventionError naming the symbol and its line (see
// Target::unsupported); LLVM would end the process on it. When LLVM crashes on the IR anyway,
// the crash is contained: LoweringCrashError (targets/llvm/crash_recovery.hpp).
//
// The front end (kernels/front_end.hpp) for LlvmIR sources is defined in ir_method.cpp.
#pragma once

#include "core/method_table.hpp"
#include "core/signature.hpp"
#include "kernels/digest.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kcache::kernels {

class FrontEnd;

/// The source of an LLVM IR method. Thread-safety: an immutable value once added.
struct LlvmIR {
    enum class Format { Text, Bitcode };
    Format format = Format::Text;
    /// Textual IR, or the bytes of a bitcode file.
    std::string code;
    /// The function implementing the method; empty: the generic function's name.
    std::string entry;
    /// Set by add_ir_method: BLAKE3 of the IR, format, entry, function and signature (see
    /// kernels/digest.hpp). Whatever a caller puts here is replaced.
    std::optional<Digest> digest;

    static LlvmIR text(std::string ir, std::string entry = {}) {
        return {Format::Text, std::move(ir), std::move(entry), std::nullopt};
    }
    static LlvmIR bitcode(std::vector<std::uint8_t> bytes, std::string entry = {}) {
        return {Format::Bitcode, std::string(bytes.begin(), bytes.end()), std::move(entry),
                std::nullopt};
    }
};

/// Adds an IR method of `f` for `sig` to `table`, with its source digest. Throws
/// InvalidSignatureError when `sig` holds type variables or abstract types (IR is written for one
/// concrete signature). The IR itself is read when a specialisation is compiled.
Method& add_ir_method(MethodTable& table, Function& f, Signature sig, LlvmIR source);

/// The generic function a declared symbol names under the convention: `muladd$f32` -> `muladd`.
std::string_view generic_name(std::string_view symbol);

/// 1-based line of the first `declare`/`define` line of `@symbol` in textual IR; 0 when absent.
int symbol_line(std::string_view ir_text, std::string_view symbol);

/// The front end of LlvmIR sources (registered by register_builtin_front_ends).
std::unique_ptr<FrontEnd> make_ir_front_end();

} // namespace kcache::kernels
