// Helpers of the store tests and their worker process: stores over temporary directories, small
// kernels whose callees are reached through dispatch, and running them on the host device.
#pragma once

#include "core/method_table.hpp"
#include "kernels/frontends/generator/generator.hpp"
#include "kernels/kernel_compiler.hpp"
#include "store/store.hpp"
#include "store/tiers/disk/disk_tier.hpp"
#include "store/tiers/memory/memory_tier.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace kcache::test {

namespace fs = std::filesystem;

/// A fresh directory under the temporary directory, removed (with its contents) on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

/// A store of a memory tier and a disk tier at `dir` (which must open).
std::unique_ptr<store::Store>
make_store(const fs::path& dir, std::uint64_t max_size = std::uint64_t(1) << 30,
           std::chrono::milliseconds lock_timeout = std::chrono::seconds(120));
/// Entries for the tiers' own tests: content key n (a host spec), an artifact of `size` bytes
/// of n, and an action entry (function f, one dispatch) naming content n.
store::ContentKey key_n(int n);
store::ArtifactPtr artifact_n(int n, std::size_t size = 2000);
std::shared_ptr<const store::ActionEntry> action_n(int n);

/// A store of a memory tier only.
std::unique_ptr<store::Store> memory_store();

store::DiskTier& disk_of(store::Store& s);
store::MemoryTier& memory_of(store::Store& s);

/// `f(x::T)::T where T<:Real = x + c`, versioned by c.
Method& add_adder(MethodTable& table, Function& f, float c);
/// `f(x::Float32)::Float32 = x + c`, versioned by c.
Method& add_float_adder(MethodTable& table, Function& f, float c);
/// `g(x::Float32)::Float32 = x + c` as an LLVM IR method.
Method& add_ir_adder(MethodTable& table, Function& g, float c);
/// Kernel `k(out::Ptr{Float32}, n::Int32)`: out[i] = f(Float32(i)) + g(Float32(i)) for i < n.
Method& add_sum_kernel(MethodTable& table, Function& k, const Function& f, const Function& g,
                       const std::string& version = "1");

/// What the sum kernel computes for n = 4 with f = x + cf and g = x + cg.
std::vector<float> sums(float cf, float cg);

/// Launches `k(out, n)` on the process's host device through `compiler`; returns out.
std::vector<float> run_on_host(kernels::KernelCompiler& compiler, const Function& k, int n);

/// Fresh functions (process-unique names): f(x::T) where T<:Real = x + 1 and g = x + 2 (IR) in
/// the global table, k = f(x) + g(x), and an empty overlay table to compile through.
struct Chain {
    Chain();
    MethodTable& table;
    Function &f, &g, &k;
};

/// A compiler whose cache goes through `table`, with `store`.
struct Compiler {
    Compiler(MethodTable& table, store::Store& store);
    kernels::KernelCache cache;
    kernels::KernelCompiler compiler;
};

/// The cross-process scenario of the action cache: functions with fixed names in an overlay
/// table with a fixed name, so that separate processes define the same ones. `variant`:
///   base        f(x::T) where T<:Real = x + 1 (global), g = x + 1 (IR), k = f(x) + g(x)
///   changed     f's source changed: x + 10
///   overlay     base, plus an overlay method f(::Float32) = x + 100 in the scenario's table
///   specific    base, plus a more specific global f(::Float32) = x + 1000
///   ir-changed  base with g's IR changed: x + 2
struct Scenario {
    explicit Scenario(const std::string& variant);
    MethodTable& table;
    Function &f, &g, &k;
};

} // namespace kcache::test
