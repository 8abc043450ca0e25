// The LLVMContext of one compilation, and what becomes of it after LLVM crashed in it.
//
// A contained crash (targets/llvm/crash_recovery.hpp) jumps out of LLVM: the frames it skips never
// ran their destructors, so the context may hold half-made IR, and value handles that live in
// stack memory since reused. Destroying such a context, or any module in it, could crash or
// corrupt memory. So a context LLVM crashed in is abandoned: kcache never destroys it or its
// modules, and keeps a pointer to it for the life of the process (leak checkers see it as
// reachable). The cost is the memory of each failed compilation.
#pragma once

#include <memory>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace kcache {

namespace detail {
/// Marks `ctx` as one LLVM crashed in. Thread-safe.
void abandon(const llvm::LLVMContext& ctx);
/// Whether LLVM crashed in `ctx`. Thread-safe.
bool abandoned(const llvm::LLVMContext& ctx);
} // namespace detail

/// Deletes a module, unless LLVM crashed in its context (then the module is left as it is).
struct ModuleDeleter {
    void operator()(llvm::Module* m) const noexcept;
};
/// A module owned by kcache's front end and targets while it is being built.
using ModulePtr = std::unique_ptr<llvm::Module, ModuleDeleter>;

/// Owns the context of one compilation and, through it, every module made in it that nobody
/// else owns (a module whose unique_ptr was released is deleted with its context). Destroys
/// them when it goes, unless LLVM crashed in the context: then it leaks them (see above).
/// Thread-safety: as an LLVMContext, used by one thread at a time.
class IsolatedContext {
public:
    IsolatedContext();
    ~IsolatedContext();
    IsolatedContext(const IsolatedContext&) = delete;
    IsolatedContext& operator=(const IsolatedContext&) = delete;

    llvm::LLVMContext& get() const { return *context_; }
    /// Whether LLVM crashed in it, so that it will be leaked.
    bool abandoned() const;

private:
    llvm::LLVMContext* context_;
};

} // namespace kcache
