// Linked into every test program of a sanitizer build: options the sanitizer runtimes read at
// start-up, so that ctest, a debugger and a developer running one test binary see the same.
//
// AddressSanitizer, for LLVM (which is not instrumented, yet runs inside our processes):
// - alloc_dealloc_mismatch=0: LLVM 19 frees with free() some buffers it allocated with operator
//   new (e.g. PredicateInfoBuilder::renameUses, under IPSCCP); harmless, reported by ASan.
// - use_sigaltstack=0: LLVM installs its own alternate signal stack on threads that compile
//   (its signal handling, used by crash recovery), and ASan then fails to unmap its own one when
//   the thread exits.
extern "C" const char* __asan_default_options() {
    return "alloc_dealloc_mismatch=0:use_sigaltstack=0";
}
