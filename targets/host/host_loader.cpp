#include "targets/host/host_loader.hpp"

#include "core/excerpt.hpp"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

namespace kcache {
namespace {

std::string message(llvm::Error err) {
    return llvm::toString(std::move(err));
}

} // namespace

HostLoader::HostLoader() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jit = llvm::orc::LLJITBuilder().create();
    if (!jit)
        throw HostLoadError("host loader: cannot create an ORC LLJIT for this CPU: " +
                            message(jit.takeError()));
    jit_ = std::move(*jit);
}

HostLoader::~HostLoader() = default;

std::size_t HostLoader::loaded() const {
    std::lock_guard lock(mutex_);
    return loaded_;
}

void* HostLoader::lookup_locked(llvm::orc::JITDylib& dylib, std::string_view symbol,
                                const std::string& kernel, const char* what) {
    auto address = jit_->lookup(dylib, llvm::StringRef(symbol.data(), symbol.size()));
    if (!address)
        throw HostLoadError("host loader: kernel '" + excerpt(kernel) + "': looking up " + what +
                            " @" + excerpt(symbol) + " failed: " + message(address.takeError()));
    return address->toPtr<void*>();
}

std::unique_ptr<HostObject> HostLoader::load(const Artifact& a) {
    // Declared before the lock: when an exception unwinds, the lock goes first, then the object
    // removes its dylib (which locks again).
    std::unique_ptr<HostObject> object;
    std::lock_guard lock(mutex_);
    const std::string& kernel = a.kernel_symbol;
    auto dylib = jit_->createJITDylib("kcache.object." + std::to_string(++counter_) + "." + kernel);
    if (!dylib)
        throw HostLoadError("host loader: kernel '" + excerpt(kernel) +
                            "': creating a JITDylib failed: " + message(dylib.takeError()));
    object.reset(new HostObject(*this, *dylib)); // owns the dylib from here
    ++loaded_;
    object->kernel_symbol_ = kernel;
    auto fail = [&](const std::string& what, llvm::Error err) {
        throw HostLoadError("host loader: kernel '" + excerpt(kernel) + "': " + what +
                            " failed: " + message(std::move(err)));
    };
    auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit_->getDataLayout().getGlobalPrefix());
    if (!process)
        fail("resolving process symbols", process.takeError());
    dylib->addGenerator(std::move(*process));
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
        llvm::StringRef(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size()), kernel);
    if (auto err = jit_->addObjectFile(*dylib, std::move(buffer)))
        fail("adding the object", std::move(err));
    object->kernel_ = lookup_locked(*dylib, kernel, kernel, "the kernel");
    object->args_entry_ = reinterpret_cast<host::ArgsEntryFn>(
        lookup_locked(*dylib, kernel + host::kArgsEntrySuffix, kernel, "the argument entry"));
    object->static_shared_bytes_ = *static_cast<const std::uint64_t*>(
        lookup_locked(*dylib, kernel + host::kSharedBytesSuffix, kernel, "the shared-memory size"));
    return object;
}

void HostLoader::unload(llvm::orc::JITDylib& dylib) noexcept {
    std::lock_guard lock(mutex_);
    if (auto err = jit_->getExecutionSession().removeJITDylib(dylib))
        llvm::consumeError(std::move(err)); // nothing to do about it in a destructor
    --loaded_;
}

void* HostObject::lookup(std::string_view symbol) const {
    std::lock_guard lock(loader_.mutex_);
    return loader_.lookup_locked(dylib_, symbol, kernel_symbol_, "the symbol");
}

HostObject::~HostObject() {
    loader_.unload(dylib_);
}

} // namespace kcache
