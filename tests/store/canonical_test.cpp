// The canonical key (issue section 1): names that never reach the code do not change it, the
// order of independent internal functions does not, a context that already holds other modules
// does not; constants, types, flags, attributes, arch, opt level and toolchain do.
#include "../kernels/test_util.hpp"

#include "core/dispatch.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library/library.hpp"
#include "store/canonical_ir.hpp"
#include "store/keys.hpp"
#include "targets/llvm/ir.hpp"
#include "targets/target.hpp"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <gtest/gtest.h>

#include <set>

namespace kcache::test {
namespace {

using namespace types;
using kernels::Digest;

const TargetSpec kSm80{TargetKind::nvptx(), "sm_80", 2};

// The IR digest of f(tt) built and prepared for `spec` in `ctx`; `edit` runs on the prepared
// module before it is canonicalised.
Digest ir_key(const MethodTable& table, const Function& f, Type tt, const TargetSpec& spec,
              llvm::LLVMContext& ctx, const std::function<void(llvm::Module&)>& edit = {}) {
    kernels::KernelCompiler kc(const_cast<MethodTable&>(table), unique("canon"));
    auto m = kc.build_module(f, tt, spec, ctx);
    spec.kind.target().prepare(*m, f.name(), spec);
    if (edit)
        edit(*m);
    store::canonicalize(*m);
    return store::canonical_digest(*m);
}

Digest ir_key(const MethodTable& table, const Function& f, Type tt,
              const TargetSpec& spec = kSm80) {
    llvm::LLVMContext ctx;
    return ir_key(table, f, tt, spec, ctx);
}

// An IR kernel `name(out::Ptr{Float32})` in a fresh table; `body` is the IR text with NAME for
// the kernel's name.
struct IrKernel {
    MethodTable& table = fresh_table("canon_table");
    Function& f = Function::define(unique("ir_kernel"));
    explicit IrKernel(std::string body) {
        for (auto at = body.find("NAME"); at != std::string::npos; at = body.find("NAME"))
            body.replace(at, 4, f.name());
        kernels::add_ir_method(table, f, Signature({Ptr(Float32())}), kernels::LlvmIR::text(body));
    }
    Digest key(const TargetSpec& spec = kSm80) const {
        return ir_key(table, f, Type::tuple({Ptr(Float32())}), spec);
    }
};

constexpr const char* kBase = R"(
define internal float @helper(float %v) {
entry:
  %w = fmul float %v, 2.0
  ret float %w
}
define void @NAME(ptr addrspace(1) %out) {
start:
  %x = call float @helper(float 3.0)
  store float %x, ptr addrspace(1) %out
  ret void
}
)";

TEST(CanonicalKey, LocalBlockAndInternalFunctionNamesDoNotMatter) {
    IrKernel base(kBase);
    IrKernel renamed(R"(
define internal float @something_else(float %input) {
first_block:
  %doubled = fmul float %input, 2.0
  ret float %doubled
}
define void @NAME(ptr addrspace(1) %result) {
bb0:
  %0 = call float @something_else(float 3.0)
  store float %0, ptr addrspace(1) %result
  ret void
}
)");
    EXPECT_EQ(base.key(), renamed.key());
    // And the kernel's own name (each IrKernel has its own function name).
    EXPECT_NE(base.f.name(), renamed.f.name());
}

TEST(CanonicalKey, IndependentInternalFunctionsInAnyOrder) {
    const char* first = R"(
define internal float @a(float %v) {
  %r = fadd float %v, 1.0
  ret float %r
}
define internal float @b(float %v) {
  %r = fmul float %v, 3.0
  ret float %r
}
define void @NAME(ptr addrspace(1) %out) {
  %x = call float @a(float 1.0)
  %y = call float @b(float %x)
  store float %y, ptr addrspace(1) %out
  ret void
}
)";
    const char* swapped = R"(
define internal float @b(float %v) {
  %r = fmul float %v, 3.0
  ret float %r
}
define void @NAME(ptr addrspace(1) %out) {
  %x = call float @a(float 1.0)
  %y = call float @b(float %x)
  store float %y, ptr addrspace(1) %out
  ret void
}
define internal float @a(float %v) {
  %r = fadd float %v, 1.0
  ret float %r
}
)";
    EXPECT_EQ(IrKernel(first).key(), IrKernel(swapped).key());
}

TEST(CanonicalKey, ConstantsTypesFlagsAndAttributesChangeIt) {
    auto variant = [](const std::string& from, const std::string& to) {
        std::string ir = kBase;
        const auto at = ir.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        ir.replace(at, from.size(), to);
        return IrKernel(ir).key();
    };
    std::set<std::string> keys = {IrKernel(kBase).key().hex()};
    const Digest constant = variant("fmul float %v, 2.0", "fmul float %v, 2.5");
    const Digest type = variant("  %w = fmul float %v, 2.0\n  ret float %w",
                                "  %d = fpext float %v to double\n"
                                "  %e = fmul double %d, 2.0\n"
                                "  %w = fptrunc double %e to float\n  ret float %w");
    const Digest flag = variant("fmul float", "fmul nnan float");
    const Digest attribute = variant("define internal float @helper(float %v) {",
                                     "define internal float @helper(float %v) noinline {");
    for (const Digest& d : {constant, type, flag, attribute})
        EXPECT_TRUE(keys.insert(d.hex()).second) << "a variant hashes like another";
}

TEST(CanonicalKey, SameInAContextThatHoldsOtherModules) {
    // The kernel uses a named struct type; a module parsed earlier into the same context has a
    // different type of the same name, so the kernel's prints as %Pair.0.
    IrKernel k(R"(
%Pair = type { float, float }
define void @NAME(ptr addrspace(1) %out) {
  %p = alloca %Pair
  %f = getelementptr %Pair, ptr %p, i32 0, i32 1
  store float 4.0, ptr %f
  %v = load float, ptr %f
  store float %v, ptr addrspace(1) %out
  ret void
}
)");
    const Type tt = Type::tuple({Ptr(Float32())});
    llvm::LLVMContext fresh;
    const Digest alone = ir_key(k.table, k.f, tt, kSm80, fresh);

    llvm::LLVMContext shared;
    auto other =
        parse_ir("%Pair = type { i32 }\n@g = global %Pair zeroinitializer\n", shared, "other");
    std::string printed;
    const Digest crowded = ir_key(k.table, k.f, tt, kSm80, shared, [&](llvm::Module& m) {
        llvm::raw_string_ostream os(printed);
        m.print(os, nullptr);
    });
    EXPECT_NE(printed.find("%Pair.0"), std::string::npos) << "the premise: a renamed type";
    EXPECT_EQ(alone, crowded);
    // Printing for the hash leaves the type's name as it was.
    EXPECT_NE(llvm::StructType::getTypeByName(shared, "Pair.0"), nullptr);
}

TEST(CanonicalKey, LibraryKernelsRenamedReorderedAndInACrowdedContext) {
    kernels::register_all();
    llvm::LLVMContext crowded; // every library module built into one context
    std::set<std::string> distinct;
    std::size_t count = 0;
    for (const auto& info : kernels::register_all()) {
        for (Type tt : info.examples) {
            SCOPED_TRACE(info.name + " " + tt.str());
            const Function& f = Function::named(info.name);
            const Digest plain = ir_key(MethodTable::global(), f, tt);
            llvm::LLVMContext ctx;
            // Every local, block and internal function renamed; internal functions reversed.
            const Digest renamed =
                ir_key(MethodTable::global(), f, tt, kSm80, ctx, [](llvm::Module& m) {
                    int n = 0;
                    std::vector<llvm::Function*> internal;
                    for (auto& fn : m) {
                        if (fn.hasLocalLinkage() && !fn.isDeclaration()) {
                            fn.setName("zz" + std::to_string(n++));
                            internal.push_back(&fn);
                        }
                        for (auto& arg : fn.args())
                            arg.setName("a" + std::to_string(n++));
                        for (auto& bb : fn) {
                            bb.setName("bb" + std::to_string(n++));
                            for (auto& inst : bb)
                                if (!inst.getType()->isVoidTy())
                                    inst.setName("v" + std::to_string(n++));
                        }
                    }
                    auto& list = m.getFunctionList();
                    for (auto it = internal.rbegin(); it != internal.rend(); ++it)
                        list.splice(list.end(), list, (*it)->getIterator());
                });
            const Digest in_crowd = ir_key(MethodTable::global(), f, tt, kSm80, crowded);
            EXPECT_EQ(plain, renamed);
            EXPECT_EQ(plain, in_crowd);
            distinct.insert(plain.hex());
            ++count;
        }
    }
    EXPECT_EQ(distinct.size(), count) << "two different library kernels share a key";
}

TEST(CanonicalKey, KernelsWithTheSameBodyShareItAndTheSymbolIsFixed) {
    MethodTable& table = fresh_table("twins");
    Function& helper1 = Function::define(unique("helper"));
    Function& helper2 = Function::define(unique("helper"));
    Function& k1 = Function::define(unique("twin"));
    Function& k2 = Function::define(unique("twin"));
    kernels::add_generator(table, helper1, Signature({Float32()}), add_const(2.0f), Float32());
    kernels::add_generator(table, helper2, Signature({Float32()}), add_const(2.0f), Float32());
    kernels::add_generator(table, k1, Signature({Ptr(Float32())}), store_call(&helper1));
    kernels::add_generator(table, k2, Signature({Ptr(Float32())}), store_call(&helper2));
    const Type tt = Type::tuple({Ptr(Float32())});
    EXPECT_EQ(ir_key(table, k1, tt), ir_key(table, k2, tt));

    llvm::LLVMContext ctx;
    kernels::KernelCompiler kc(table, unique("twins"));
    auto m = kc.build_module(k1, tt, kSm80, ctx);
    TargetKind::nvptx().target().prepare(*m, k1.name(), kSm80);
    store::canonicalize(*m);
    ASSERT_NE(m->getFunction(store::kCanonicalKernel), nullptr);
    EXPECT_EQ(m->getFunction(k1.name()), nullptr);
    EXPECT_TRUE(m->getModuleIdentifier().empty());
    EXPECT_TRUE(m->getSourceFileName().empty());
}

TEST(ContentKey, EveryFieldIsInTheDigest) {
    store::ContentKey base{store::compile_env(kSm80), Digest{}};
    std::set<std::string> seen = {base.digest().hex()};
    auto differs = [&](const char* what, const std::function<void(store::ContentKey&)>& change) {
        store::ContentKey k = base;
        change(k);
        EXPECT_TRUE(seen.insert(k.digest().hex()).second) << what;
    };
    differs("ir", [](auto& k) { k.ir.bytes[31] ^= 1; });
    differs("schema", [](auto& k) { k.env.schema += 1; });
    differs("kind", [](auto& k) { k.env.spec.kind = TargetKind::amdgpu(); });
    differs("arch", [](auto& k) { k.env.spec.arch = "sm_90"; });
    differs("opt level", [](auto& k) { k.env.spec.opt_level = 3; });
    differs("triple", [](auto& k) { k.env.toolchain.triple += "x"; });
    differs("cpu", [](auto& k) { k.env.toolchain.cpu += "x"; });
    differs("features", [](auto& k) { k.env.toolchain.features += ",+x"; });
    differs("llvm version", [](auto& k) { k.env.toolchain.llvm_version = "19.1.8"; });
    differs("tools", [](auto& k) { k.env.toolchain.tools = "nvJitLink 13.1"; });
    differs("libraries", [](auto& k) { k.env.toolchain.libraries = "libdevice 00"; });
    differs("compiler", [](auto& k) { k.env.compiler += "0"; });
    // Field boundaries are framed: moving a character from one field to the next differs too.
    differs("framing", [](auto& k) {
        k.env.toolchain.triple += k.env.toolchain.cpu.substr(0, 1);
        k.env.toolchain.cpu.erase(0, 1);
    });
}

TEST(ContentKey, TheEnvironmentNamesTheToolchain) {
    const auto& nvptx = store::compile_env(kSm80);
    EXPECT_EQ(nvptx.toolchain.triple, "nvptx64-nvidia-cuda");
    EXPECT_EQ(nvptx.toolchain.cpu, "sm_80");
    EXPECT_NE(nvptx.toolchain.features.find("ptx"), std::string::npos);
    // A cubin through nvJitLink, or PTX only: either way the key says which.
    EXPECT_TRUE(nvptx.toolchain.tools.starts_with("nvJitLink ") ||
                nvptx.toolchain.tools.starts_with("PTX only"))
        << nvptx.toolchain.tools;
    EXPECT_TRUE(nvptx.toolchain.libraries.starts_with("libdevice ") ||
                nvptx.toolchain.libraries == "no libdevice");
    const auto& amdgpu = store::compile_env({TargetKind::amdgpu(), "gfx90a", 2});
    EXPECT_NE(amdgpu.toolchain.tools.find("LLD"), std::string::npos) << amdgpu.toolchain.tools;
    const auto& host = store::compile_env({TargetKind::host(), "", 2});
    EXPECT_FALSE(host.spec.arch.empty()) << "resolved";
    EXPECT_FALSE(host.toolchain.features.empty()) << "this CPU's features";
    EXPECT_EQ(store::compiler_id().size(), 64u);
    EXPECT_NE(store::compile_env({TargetKind::nvptx(), "sm_80", 3}).spec, nvptx.spec);
}

} // namespace
} // namespace kcache::test
