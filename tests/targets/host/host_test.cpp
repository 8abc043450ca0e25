// Host: native objects following targets/host/host_abi.hpp, loaded with ORC and run, which checks
// the launch-context ABI (builtins, barrier callback, shared memory) end to end.
#include "elf_util.hpp"
#include "host_runner.hpp"
#include "kernels.hpp"

#include "targets/host/host_abi.hpp"
#include "targets/host/host_loader.hpp"
#include "targets/target_errors.hpp"

#include <llvm/BinaryFormat/ELF.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <thread>

namespace kcache::test {
namespace {

host::LaunchContext context(unsigned grid, unsigned block, unsigned bid, unsigned tid) {
    host::LaunchContext c{};
    c.grid_dim[0] = grid;
    c.block_dim[0] = block;
    c.block_idx[0] = bid;
    c.thread_idx[0] = tid;
    c.grid_dim[1] = c.grid_dim[2] = c.block_dim[1] = c.block_dim[2] = 1;
    return c;
}

TEST(Host, ObjectIsForThisMachine) {
    Artifact a = compile(kVectorAdd, "vadd", {TargetKind::host(), "", 2});
    EXPECT_EQ(a.format, "object");
    EXPECT_EQ(a.arch, llvm::sys::getHostCPUName().str());
    auto elf = read_elf(a.bytes);
    ASSERT_TRUE(elf) << "host object is not ELF64 (this test assumes a 64-bit ELF host)";
    EXPECT_EQ(elf->type, unsigned(llvm::ELF::ET_REL));
    EXPECT_EQ(
        elf->arch,
        llvm::Triple::getArchTypeName(llvm::Triple(llvm::sys::getProcessTriple()).getArch()).str());
    EXPECT_TRUE(has_symbol(*elf, "vadd"));
    EXPECT_TRUE(has_symbol(*elf, "vadd.kcache.shared_bytes"));
    EXPECT_TRUE(has_symbol(*elf, "vadd.kcache.args"));
}

TEST(Host, OptLevelChangesOutput) {
    Artifact o0 = compile(kReduce, "reduce", {TargetKind::host(), "", 0});
    Artifact o3 = compile(kReduce, "reduce", {TargetKind::host(), "", 3});
    EXPECT_NE(o0.bytes, o3.bytes);
}

TEST(Host, GenericCpuArch) {
    Artifact a = compile(kVectorAdd, "vadd", {TargetKind::host(), "x86-64", 2});
    EXPECT_EQ(a.arch, "x86-64");
}

TEST(Host, VectorAddRuns) {
    Artifact a = compile(kVectorAdd, "vadd", {TargetKind::host(), "", 2});
    HostModule jit(a);
    auto vadd = jit.lookup<void (*)(float*, float*, float*, int, host::LaunchContext*)>("vadd");
    constexpr int n = 10, block = 4, grid = 3;
    std::vector<float> x(12), y(12), z(12, -1.0f);
    for (int i = 0; i < n; ++i)
        x[i] = float(i), y[i] = float(100 * i);
    for (unsigned b = 0; b < grid; ++b)
        for (unsigned t = 0; t < block; ++t) {
            auto ctx = context(grid, block, b, t);
            vadd(x.data(), y.data(), z.data(), n, &ctx);
        }
    for (int i = 0; i < n; ++i)
        EXPECT_EQ(z[i], float(101 * i)) << i;
    EXPECT_EQ(z[10], -1.0f); // out of range threads wrote nothing
}

// The argument-array entry passes each parameter from its pointer: three pointers and an i32,
// in an order that a wrong offset or type would scramble.
TEST(Host, ArgumentArrayEntryCallsTheKernelWithEachParameter) {
    Artifact a = compile(kVectorAdd, "vadd", {TargetKind::host(), "", 2});
    HostModule jit(a);
    const host::ArgsEntryFn entry = jit.object().args_entry();
    ASSERT_NE(entry, nullptr);
    EXPECT_EQ(jit.object().kernel(), jit.lookup<void*>("vadd"));
    std::vector<float> x = {1, 2, 3, 4}, y = {10, 20, 30, 40}, z(4, -1.0f);
    float *px = x.data(), *py = y.data(), *pz = z.data();
    int n = 3; // the fourth element stays untouched
    void* values[] = {&px, &py, &pz, &n};
    for (unsigned t = 0; t < 4; ++t) {
        auto ctx = context(1, 4, 0, t);
        entry(values, &ctx);
    }
    EXPECT_EQ(z, (std::vector<float>{11, 22, 33, -1}));
}

TEST(Host, LoaderRejectsWhatIsNoHostObjectAndKeepsNothing) {
    Artifact a = compile(kVectorAdd, "vadd", {TargetKind::host(), "", 2});
    HostLoader loader;
    Artifact garbage = a;
    garbage.bytes.assign(64, 0x5a);
    EXPECT_THROW(loader.load(garbage), HostLoadError);
    Artifact misnamed = a;
    misnamed.kernel_symbol = "not_the_kernel";
    try {
        loader.load(misnamed);
        ADD_FAILURE() << "loaded an object under a kernel name it does not define";
    } catch (const HostLoadError& e) {
        EXPECT_NE(std::string(e.what()).find("not_the_kernel"), std::string::npos) << e.what();
    }
    EXPECT_EQ(loader.loaded(), 0u);
    {
        auto object = loader.load(a);
        EXPECT_EQ(loader.loaded(), 1u);
        EXPECT_EQ(object->static_shared_bytes(), 0u);
    }
    EXPECT_EQ(loader.loaded(), 0u);
}

TEST(Host, ReductionWithSharedMemoryAndBarrierRuns) {
    Artifact a = compile(kReduce, "reduce", {TargetKind::host(), "", 2});
    EXPECT_EQ(a.static_shared_bytes, 1024u);
    HostModule jit(a);
    auto reduce = jit.lookup<void (*)(float*, float*, int, host::LaunchContext*)>("reduce");
    EXPECT_EQ(*jit.lookup<const std::uint64_t*>("reduce.kcache.shared_bytes"), 1024u);

    constexpr unsigned n = 13, block = 8, grid = 2;
    std::vector<float> in(n);
    for (unsigned i = 0; i < n; ++i)
        in[i] = float(i + 1);
    float out = 0;
    for (unsigned b = 0; b < grid; ++b) {
        alignas(16) std::uint8_t shared[1024];
        std::barrier<> sync(block);
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; ++t)
            threads.emplace_back([&, t] {
                auto ctx = context(grid, block, b, t);
                ctx.shared_memory = shared;
                ctx.runtime_data = &sync;
                ctx.barrier = [](host::LaunchContext* c) {
                    static_cast<std::barrier<>*>(c->runtime_data)->arrive_and_wait();
                };
                reduce(in.data(), &out, n, &ctx);
            });
        for (auto& t : threads)
            t.join();
    }
    EXPECT_EQ(out, float(n * (n + 1) / 2));
}

TEST(Host, MathUsesLibm) {
    Artifact a = compile(kMath, "math", {TargetKind::host(), "", 2});
    HostModule jit(a);
    auto math =
        jit.lookup<void (*)(float*, float*, double*, double*, host::LaunchContext*)>("math");
    std::vector<float> in = {0.5f, 1.0f, 2.0f, 4.0f}, out(4);
    std::vector<double> in64 = {2.0, 9.0, 16.0, 0.25}, out64(4);
    for (unsigned t = 0; t < 4; ++t) {
        auto ctx = context(1, 4, 0, t);
        math(in.data(), out.data(), in64.data(), out64.data(), &ctx);
    }
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_NEAR(out[i], std::sqrt(in[i]) + std::exp(in[i]), 1e-4f * out[i]);
        EXPECT_DOUBLE_EQ(out64[i], std::sqrt(in64[i]));
    }
}

TEST(Host, AddressTakenFunctionIsRejected) {
    Compilation c(R"(
define internal void @helper() {
  ret void
}
define void @k(ptr %out) {
  store ptr @helper, ptr %out
  ret void
})");
    EXPECT_THROW(TargetKind::host().target().prepare(*c.module, "k", {TargetKind::host(), "", 2}),
                 LoweringError);
}

} // namespace
} // namespace kcache::test
