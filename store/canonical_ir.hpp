// The canonical form of a prepared kernel module, and its digest: the content key's IR field.
//
// Two kernels compile to the same code when their prepared modules differ only in names that
// never reach the code. The canonical form removes those names, in place, and the artifact is
// compiled from it (so identical bodies give byte-identical artifacts):
//
//  * the kernel is renamed to kCanonicalKernel (with what prepare named after it), so the
//    artifact's kernel_symbol is that name and the runtime looks the kernel up by it;
//  * arguments, basic blocks and instructions lose their names (printed as %0, %1, ...);
//  * functions and globals private to the module (callees, helpers, shared memory, linked
//    libdevice functions) are renamed by position, `kcache.fN` and `kcache.gN`;
//  * functions and globals are ordered by first reference, walking from the kernel (then from
//    the other external symbols) through instructions and initialisers, so the order in which
//    independent internal functions were written or linked does not matter; definitions that
//    nothing reaches keep their relative order after the rest;
//  * the module ID and source file name are blanked.
//
// The digest is BLAKE3 (256 bits) over the module as LLVM prints it, with named struct types
// printed unnamed while it prints: a second module in one LLVMContext would otherwise print
// `%Vec.0` where the first printed `%Vec`. Everything else the printer shows is kept — constants,
// types, flags, attributes, metadata, data layout and triple — so any change to those is a
// different key. (llvm::StructuralHash is no key: 64 bits, and blind to constants.)
//
// Thread-safety: each call works on one module, on the thread that owns its LLVMContext.
#pragma once

#include "kernels/digest.hpp"

#include <string_view>

namespace llvm {
class Module;
}

namespace kcache::store {

/// The symbol every canonical kernel has.
inline constexpr std::string_view kCanonicalKernel = "kcache_kernel";

/// Rewrites a prepared module (Target::prepare) into the canonical form above. Throws
/// InvalidArgumentError for a module that was not prepared.
void canonicalize(llvm::Module& m);

/// BLAKE3 of the printed canonical module. The module is not changed (named struct types are
/// unnamed while it prints and renamed after), but its context's types are touched: the
/// context must not be in use by another thread.
kernels::Digest canonical_digest(llvm::Module& m);

} // namespace kcache::store
