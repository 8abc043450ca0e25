// The target registry and what a target declares: the built-ins, lookups by name, targets
// registered from this test program, and a target with its own address-space numbering, which
// the builtins, shared memory and the host lowering must follow.
// (The registry is process-wide: ctest runs each test in a process of its own.)
#include "host_runner.hpp"
#include "kernels.hpp"

#include "targets/host/host_target.hpp"
#include "targets/target_errors.hpp"
#include "targets/target_registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <regex>
#include <thread>

namespace kcache::test {
namespace {

TEST(TargetRegistry, HoldsTheBuiltInTargetsWithWhatTheyDeclare) {
    const auto all = TargetRegistry::all();
    ASSERT_GE(all.size(), 3u);
    EXPECT_EQ(all[0], TargetKind::nvptx());
    EXPECT_EQ(all[1], TargetKind::amdgpu());
    EXPECT_EQ(all[2], TargetKind::host());
    EXPECT_EQ(TargetKind::named("amdgpu"), TargetKind::amdgpu());
    EXPECT_FALSE(TargetRegistry::find("spirv"));
    EXPECT_EQ(to_string(TargetKind()), "none");
    EXPECT_THROW(TargetKind().target(), InvalidArgumentError);
    try {
        TargetKind::named("spirv");
        ADD_FAILURE() << "found an unregistered target";
    } catch (const InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("nvptx, amdgpu, host"), std::string::npos) << e.what();
    }
    for (TargetKind kind : {TargetKind::nvptx(), TargetKind::amdgpu(), TargetKind::host()}) {
        const Target& t = kind.target();
        EXPECT_EQ(&t, &kind.target()) << "one target per kind";
        EXPECT_EQ(t.kind(), kind);
        EXPECT_EQ(t.address_spaces(), kGpuAddressSpaces) << kind;
        EXPECT_FALSE(t.triple().empty());
    }
    EXPECT_EQ(TargetKind::nvptx().target().triple(), "nvptx64-nvidia-cuda");
    EXPECT_EQ(TargetKind::nvptx().target().artifact_formats(),
              (std::vector<std::string>{"ptx", "cubin"}));
    EXPECT_EQ(TargetKind::amdgpu().target().artifact_formats(), std::vector<std::string>{"hsaco"});
    EXPECT_EQ(TargetKind::host().target().artifact_formats(), std::vector<std::string>{"object"});
    // The sharding key compares targets by identity.
    EXPECT_NE((TargetSpec{TargetKind::nvptx(), "sm_80", 2}),
              (TargetSpec{TargetKind::amdgpu(), "sm_80", 2}));
    EXPECT_EQ(std::hash<TargetSpec>{}({TargetKind::host(), "x86-64", 2}),
              std::hash<TargetSpec>{}({TargetKind::named("host"), "x86-64", 2}));
}

TEST(TargetRegistry, RegistersTargetsFromTheProgramAndCreatesEachOnceOnFirstUse) {
    std::atomic<int> made{0};
    struct Counted final : HostTarget {
        explicit Counted(TargetKind k) : self(k) {}
        TargetKind kind() const override { return self; }
        TargetKind self;
    };
    const TargetKind kind = TargetRegistry::add("regtest-cpu", [&](TargetKind self) {
        ++made;
        return std::make_unique<Counted>(self);
    });
    EXPECT_EQ(TargetRegistry::find("regtest-cpu"), kind);
    EXPECT_EQ(TargetRegistry::all().back(), kind);
    EXPECT_EQ(made.load(), 0) << "created before it is used";
    EXPECT_EQ(kind.target().kind(), kind);
    EXPECT_EQ(&kind.target(), &kind.target());
    EXPECT_EQ(made.load(), 1);
    const Artifact a = compile(kVectorAdd, "vadd", {kind, "", 1});
    EXPECT_EQ(a.kind, kind);
    EXPECT_EQ(a.format, "object");

    auto ok = [](TargetKind self) { return std::make_unique<Counted>(self); };
    EXPECT_THROW(TargetRegistry::add("regtest-cpu", ok), InvalidArgumentError);
    EXPECT_THROW(TargetRegistry::add("host", ok), InvalidArgumentError);
    EXPECT_THROW(TargetRegistry::add("", ok), InvalidArgumentError);
    EXPECT_THROW(TargetRegistry::add("Upper", ok), InvalidArgumentError);
    EXPECT_THROW(TargetRegistry::add("regtest-nofactory", {}), InvalidArgumentError);
    // A factory that makes a target of another kind is an error when the target is first used.
    const TargetKind liar = TargetRegistry::add(
        "regtest-liar", [](TargetKind) { return std::make_unique<HostTarget>(); });
    EXPECT_THROW(liar.target(), InvalidArgumentError);
}

// A CPU target under the host ABI with its own numbering: global memory in addrspace(7), shared
// memory in addrspace(9).
class Renumbered final : public HostTarget {
public:
    explicit Renumbered(TargetKind self) : self_(self) {}
    TargetKind kind() const override { return self_; }
    AddressSpaceMap address_spaces() const override {
        AddressSpaceMap m;
        m.global = 7;
        m.shared = 9;
        return m;
    }

private:
    TargetKind self_;
};

TargetKind renumbered() {
    static const TargetKind kind = TargetRegistry::add(
        "regtest-renumbered", [](TargetKind self) { return std::make_unique<Renumbered>(self); });
    return kind;
}

std::string renumber(std::string ir) {
    ir = std::regex_replace(ir, std::regex("addrspace\\(1\\)"), "addrspace(7)");
    return std::regex_replace(ir, std::regex("addrspace\\(3\\)"), "addrspace(9)");
}

// The block-wide reduction (shared tile, barriers, atomic_add) written in the target's numbering
// compiles and sums correctly; a wrong numbering is rejected either way.
TEST(TargetRegistry, BuiltinsAndSharedMemoryFollowTheTargetsAddressSpaces) {
    const TargetKind kind = renumbered();
    const Artifact a = compile(renumber(kReduce), "reduce", {kind, "", 2});
    EXPECT_EQ(a.static_shared_bytes, 1024u) << "the addrspace(9) tile is its shared memory";
    HostModule m(a);
    auto reduce = m.lookup<void (*)(float*, float*, int, host::LaunchContext*)>("reduce");
    constexpr unsigned n = 300, block = 256;
    std::vector<float> in(n);
    for (unsigned i = 0; i < n; ++i)
        in[i] = float(i + 1);
    float out = 0;
    launch({2}, {block}, a.static_shared_bytes,
           [&](host::LaunchContext* c) { reduce(in.data(), &out, int(n), c); });
    EXPECT_EQ(out, float(n * (n + 1) / 2));

    // GPU numbering on the renumbered target: kcache.atomic_add's pointer is not global memory.
    Compilation gpu_numbered(kReduce);
    EXPECT_THROW(kind.target().prepare(*gpu_numbered.module, "reduce", {kind, "", 2}),
                 LoweringError);
    // And the renumbered IR on the host target, the other way round.
    Compilation renumbered_ir(renumber(kReduce));
    EXPECT_THROW(TargetKind::host().target().prepare(*renumbered_ir.module, "reduce",
                                                     {TargetKind::host(), "", 2}),
                 LoweringError);
}

} // namespace
} // namespace kcache::test
