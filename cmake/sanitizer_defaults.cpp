// Linked into every executable of a sanitizer build (the test programs, the kcache command, the
// demo, the fuzzers: see the root CMakeLists.txt): options the sanitizer runtimes read at
// start-up, so that ctest, the programs the tests run, a debugger and a developer running one
// binary all see the same.
//
// AddressSanitizer, for LLVM (which is not instrumented, yet runs inside our processes):
// - alloc_dealloc_mismatch=0: LLVM 19 frees with free() some buffers it allocated with operator
//   new (e.g. PredicateInfoBuilder::renameUses, under IPSCCP); harmless, reported by ASan.
// Alternate signal stacks need no option: kcache registers LLVM's signal handlers so that no
// thread keeps a stack of LLVM's (targets/llvm/crash_recovery.cpp), and ASan frees its own.
extern "C" const char* __asan_default_options() {
    return "alloc_dealloc_mismatch=0";
}
