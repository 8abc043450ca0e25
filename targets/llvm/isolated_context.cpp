#include "targets/llvm/isolated_context.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <mutex>
#include <unordered_set>

namespace kcache {
namespace detail {
namespace {

struct Abandoned {
    std::mutex mutex;
    std::unordered_set<const llvm::LLVMContext*> contexts; // never freed: reachable, never reused
};

Abandoned& abandoned_contexts() {
    static Abandoned* registry = new Abandoned; // outlives every static destructor
    return *registry;
}

} // namespace

void abandon(const llvm::LLVMContext& ctx) {
    auto& r = abandoned_contexts();
    std::lock_guard lock(r.mutex);
    r.contexts.insert(&ctx);
}

bool abandoned(const llvm::LLVMContext& ctx) {
    auto& r = abandoned_contexts();
    std::lock_guard lock(r.mutex);
    return r.contexts.count(&ctx) != 0;
}

} // namespace detail

void ModuleDeleter::operator()(llvm::Module* m) const noexcept {
    if (m && !detail::abandoned(m->getContext()))
        delete m;
}

IsolatedContext::IsolatedContext() : context_(new llvm::LLVMContext) {}

IsolatedContext::~IsolatedContext() {
    if (!detail::abandoned(*context_))
        delete context_; // and every module still in it
}

bool IsolatedContext::abandoned() const {
    return detail::abandoned(*context_);
}

} // namespace kcache
