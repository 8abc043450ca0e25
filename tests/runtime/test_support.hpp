// Shared fixtures of the runtime tests: a process-wide host device and small generator kernels.
#pragma once

#include "kernels/emit.hpp"
#include "kernels/generator.hpp"
#include "runtime/gpu_device.hpp"
#include "runtime/host_device.hpp"
#include "runtime/runtime.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <string>

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

/// The first device of `kind` (kept for the whole program), or nullptr with the reason in `why`.
inline std::shared_ptr<runtime::Device> first_device(runtime::DeviceKind kind, std::string& why) {
    if (kind == runtime::DeviceKind::Host)
        return host_device();
    static std::map<runtime::DeviceKind, std::pair<std::shared_ptr<runtime::Device>, std::string>>
        found;
    auto it = found.find(kind);
    if (it == found.end()) {
        std::shared_ptr<runtime::Device> d;
        std::string reason;
        try {
            auto all = runtime::gpu_devices(kind);
            if (all.empty())
                reason = std::string("no ") + runtime::to_string(kind) + " device present";
            else
                d = all.front();
        } catch (const std::exception& e) {
            reason = e.what();
        }
        it = found.emplace(kind, std::pair{d, reason}).first;
    }
    why = it->second.second;
    return it->second.first;
}

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

} // namespace kcache::test
