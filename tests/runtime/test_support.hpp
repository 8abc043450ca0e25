// Shared fixtures of the runtime tests: a process-wide host device and small generator kernels.
#pragma once

#include "kernels/frontends/generator/emit.hpp"
#include "kernels/frontends/generator/generator.hpp"
#include "runtime/drivers/gpu/gpu_device.hpp"
#include "runtime/drivers/host/host_device.hpp"
#include "runtime/runtime.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

namespace kcache::test {

inline std::string unique(const std::string& prefix) {
    static std::atomic<int> n{0};
    return prefix + "_" + std::to_string(n.fetch_add(1));
}

/// One host device for the whole test program (each has a thread pool and an LLJIT).
inline std::shared_ptr<runtime::HostDevice> host_device() {
    static auto d = std::make_shared<runtime::HostDevice>();
    return d;
}

/// Why this machine must have a working `kind` GPU, or empty: its device node exists
/// (/dev/nvidia0, /dev/kfd) or KCACHE_REQUIRE_GPU names it ("cuda", "hip" or "cuda,hip").
inline std::string gpu_requirement(runtime::DeviceKind kind) {
    const bool cuda = kind == runtime::DeviceKind::cuda();
    const char* node = cuda ? "/dev/nvidia0" : "/dev/kfd";
    if (std::filesystem::exists(node))
        return std::string(node) + " exists";
    if (const char* env = std::getenv("KCACHE_REQUIRE_GPU")) {
        std::string list = std::string(",") + env + ",";
        if (list.find("," + std::string(runtime::to_string(kind)) + ",") != std::string::npos)
            return std::string("KCACHE_REQUIRE_GPU=") + env;
    }
    return {};
}

/// The first device of `kind` for the tests, or why there is none.
struct TestDevice {
    std::shared_ptr<runtime::Device> device;
    std::string why;
    /// Whether its absence is a failure rather than a reason to skip.
    bool failure = false;
};

/// The first device of `kind`, kept for the whole program (so that it is destroyed at exit, as
/// a user's would be). Absence is a reason to skip only where there is truly no device: the
/// backend compiled out or its driver library absent, or a driver that reports none; and only
/// where the GPU is not required (gpu_requirement). A driver that fails to come up, or a GPU
/// that cannot be used, is a failure.
inline const TestDevice& test_device(runtime::DeviceKind kind) {
    if (kind == runtime::DeviceKind::host()) {
        static const TestDevice host{host_device()};
        return host;
    }
    static std::unordered_map<runtime::DeviceKind, TestDevice> found;
    auto it = found.find(kind);
    if (it != found.end())
        return it->second;
    TestDevice t;
    const std::string required = gpu_requirement(kind);
    try {
        runtime::DeviceDiscovery d = runtime::DeviceRegistry::discover(kind);
        if (!d.devices.empty()) {
            t.device = d.devices.front();
        } else if (!d.unusable.empty()) {
            t.why = d.unusable.front().reason;
            t.failure = true;
        } else {
            t.why = "the " + std::string(runtime::to_string(kind)) + " driver reports no device";
            t.failure = !required.empty();
        }
    } catch (const runtime::DriverUnavailableError& e) {
        t.why = e.what();
        t.failure = !required.empty();
    } catch (const std::exception& e) {
        t.why = e.what();
        t.failure = true;
    }
    if (t.failure && !required.empty())
        t.why +=
            " (a " + std::string(runtime::to_string(kind)) + " GPU is required: " + required + ")";
    return found.emplace(kind, std::move(t)).first->second;
}

} // namespace kcache::test

/// Declares `var`, the first device of `kind` (a std::shared_ptr<runtime::Device>), or ends the
/// test: skipped with the reason where there is truly no device, failed where there should be.
#define KCACHE_TEST_DEVICE(var, kind)                                                              \
    const ::kcache::test::TestDevice& var##_found = ::kcache::test::test_device(kind);             \
    if (!var##_found.device) {                                                                     \
        if (var##_found.failure)                                                                   \
            FAIL() << var##_found.why;                                                             \
        GTEST_SKIP() << var##_found.why;                                                           \
    }                                                                                              \
    const std::shared_ptr<::kcache::runtime::Device> var = var##_found.device

namespace kcache::test {

/// `f(x::Float32)::Float32 = x + c`.
inline kernels::GeneratorFn add_const(float c) {
    return [c](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        b.CreateRet(b.CreateFAdd(g.function().getArg(0), llvm::ConstantFP::get(b.getFloatTy(), c)));
    };
}

/// `k(out::Ptr{Float32}, n::Int32)`: out[i] = callee(Float32(i)) for i < n (global index).
inline kernels::GeneratorFn store_callee(const Function& callee) {
    return [&callee](kernels::GenContext& g) {
        llvm::IRBuilder<> b(llvm::BasicBlock::Create(g.context(), "entry", &g.function()));
        llvm::Value *out = g.function().getArg(0), *n = g.function().getArg(1);
        llvm::Value* i = kernels::emit::global_id(b);
        kernels::emit::if_then(b, b.CreateICmpSLT(i, n), [&] {
            llvm::Value* x = b.CreateSIToFP(i, b.getFloatTy());
            llvm::Value* v = g.call(b, callee, {{types::Float32(), x}});
            kernels::emit::store(b, v, out, i);
        });
        b.CreateRetVoid();
    };
}

/// `spin(started::Ptr{Int32}, go::Ptr{Int32}, out::Ptr{Float32})`: started[0] = 1, waits until
/// go[0] != 0, then out[0] = helper(1): a launch that stays in flight until the test lets it go.
/// The flag accesses are relaxed atomics: they lower on every target (LLVM 19's NVPTX cannot
/// select a seq_cst atomic load; a relaxed one is `ld.volatile`, which sees the host's copy).
inline kernels::GeneratorFn spin_then_call(const Function& helper) {
    return [&helper](kernels::GenContext& g) {
        llvm::LLVMContext& c = g.context();
        llvm::Function* fn = &g.function();
        auto* entry = llvm::BasicBlock::Create(c, "entry", fn);
        auto* loop = llvm::BasicBlock::Create(c, "loop", fn);
        auto* done = llvm::BasicBlock::Create(c, "done", fn);
        llvm::IRBuilder<> b(entry);
        auto* i32 = b.getInt32Ty();
        auto* st = b.CreateStore(b.getInt32(1), fn->getArg(0));
        st->setAtomic(llvm::AtomicOrdering::Monotonic);
        st->setAlignment(llvm::Align(4));
        b.CreateBr(loop);
        b.SetInsertPoint(loop);
        auto* v = b.CreateAlignedLoad(i32, fn->getArg(1), llvm::Align(4));
        v->setAtomic(llvm::AtomicOrdering::Monotonic);
        b.CreateCondBr(b.CreateICmpNE(v, b.getInt32(0)), done, loop);
        b.SetInsertPoint(done);
        llvm::Value* r =
            g.call(b, helper, {{types::Float32(), llvm::ConstantFP::get(b.getFloatTy(), 1.0)}});
        b.CreateStore(r, fn->getArg(2));
        b.CreateRetVoid();
    };
}

/// `user(out::Ptr{Float32}, n::Int32)`: out[i] = helper(Float32(i)), with `helper(x) = x + c`, in
/// an overlay of the global table of its own (the library's kernels stay visible): redefining the
/// helper evicts the kernel's modules.
struct RedefinableKernel {
    MethodTable& table = MethodTable::create_overlay(unique("redefinable"));
    Function& helper = Function::define(unique("helper"));
    Function& user = Function::define(unique("user"));
    explicit RedefinableKernel(float c = 1.0f) {
        redefine(c);
        kernels::add_generator(table, user,
                               Signature({types::Ptr(types::Float32()), types::Int32()}),
                               store_callee(helper));
    }
    void redefine(float c) {
        kernels::add_generator(table, helper, Signature({types::Float32()}), add_const(c),
                               types::Float32());
    }
};

} // namespace kcache::test
