// Bad input: malformed IR text (line and column), IR-convention violations (symbol and line),
// verifier failures, unknown archs, throwing generators, missing methods, type names. Each is a
// typed error with its context, and nothing is cached: the next call compiles (and fails) again.
#include "test_util.hpp"

#include "kernels/errors.hpp"
#include "kernels/frontends/ir/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/type_names.hpp"
#include "targets/target_errors.hpp"

#include <gtest/gtest.h>

namespace kcache::test {
namespace {

using namespace kcache::kernels;
using types::Float32;
using types::Int32;
using types::Ptr;

const TargetSpec kHost{TargetKind::host(), "", 0};

Type kernel_tt() {
    return Type::tuple({Ptr(Float32())});
}

struct Fixture : ::testing::Test {
    MethodTable& table = fresh_table("errors");
    Function& kernel = Function::define(unique("k"));
    KernelCompiler kc{table, "errors"};

    void define_ir(const std::string& ir) {
        add_ir_method(table, kernel, Signature({Ptr(Float32())}), LlvmIR::text(ir));
    }
    std::string name() const { return kernel.name(); }
};

TEST_F(Fixture, MalformedIRReportsLineAndColumn) {
    define_ir("define void @" + name() +
              "(ptr addrspace(1) %out) {\n"
              "  ret void\n"
              "  store flaot 1.0, ptr addrspace(1) %out\n"
              "}\n");
    auto e = expect_uncached_error<IRParseError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.column(), 9); // at "flaot"
    EXPECT_NE(std::string(e.what()).find("line 3, column 9"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(name()), std::string::npos) << e.what(); // the method

    // Fixing the method makes it compile: nothing stale was kept.
    define_ir("define void @" + name() + "(ptr addrspace(1) %out) {\n  ret void\n}\n");
    EXPECT_NE(kc.compile(kernel, kernel_tt(), kHost), nullptr);
}

TEST_F(Fixture, VerifierFailureNamesTheMethod) {
    define_ir("define void @" + name() +
              "(ptr addrspace(1) %out) {\n"
              "entry:\n"
              "  br label %next\n"
              "next:\n"
              "  %x = fadd float %y, 1.0\n"
              "  %y = fadd float %x, 1.0\n"
              "  store float %x, ptr addrspace(1) %out\n"
              "  ret void\n"
              "}\n");
    auto e = expect_uncached_error<VerifierError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_NE(std::string(e.what()).find(name() + "(::Ptr{Float32})"), std::string::npos)
        << e.what();
    EXPECT_EQ(e.function(), name());
}

TEST_F(Fixture, UnknownArchListsTheSupportedOnes) {
    add_generator(table, kernel, Signature({Ptr(Float32())}), store_call(nullptr));
    try {
        kc.compile(kernel, kernel_tt(), {TargetKind::nvptx(), "sm_7", 2});
        FAIL() << "no UnknownArchError";
    } catch (const UnknownArchError& e) {
        EXPECT_EQ(e.arch(), "sm_7");
        EXPECT_NE(std::find(e.supported().begin(), e.supported().end(), "sm_80"),
                  e.supported().end());
        EXPECT_NE(std::string(e.what()).find("sm_90"), std::string::npos) << e.what();
    }
    EXPECT_THROW(kc.compile(kernel, kernel_tt(), {TargetKind::amdgpu(), "gfx9000", 2}),
                 UnknownArchError);
    EXPECT_THROW(kc.compile(kernel, kernel_tt(), {TargetKind::host(), "", 4}),
                 InvalidArgumentError);
    EXPECT_EQ(kc.cache().stats().entries, 0u); // rejected before the cache
}

TEST_F(Fixture, ThrowingGeneratorIsAGeneratorErrorAndNothingIsCached) {
    add_generator(table, kernel, Signature({Ptr(Float32())}),
                  [](GenContext&) { throw std::runtime_error("no luck"); });
    auto e = expect_uncached_error<GeneratorError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_NE(std::string(e.what()).find("no luck"), std::string::npos);
    EXPECT_EQ(e.method(), name() + "(::Ptr{Float32})");
    EXPECT_THROW(std::rethrow_exception(e.nested()), std::runtime_error);

    // A generator leaving the body empty is an error too.
    add_generator(table, kernel, Signature({Ptr(Float32())}), [](GenContext&) {});
    EXPECT_THROW(kc.compile(kernel, kernel_tt(), kHost), GeneratorError);

    add_generator(table, kernel, Signature({Ptr(Float32())}), store_call(nullptr));
    EXPECT_NE(kc.compile(kernel, kernel_tt(), kHost), nullptr);
}

TEST_F(Fixture, ThrowingCalleeGeneratorFailsTheKernel) {
    Function& helper = Function::define(unique("helper"));
    add_generator(
        table, helper, Signature({Float32()}),
        [](GenContext&) -> void { throw std::logic_error("helper broke"); }, Float32());
    add_generator(table, kernel, Signature({Ptr(Float32())}), store_call(&helper));
    auto e = expect_uncached_error<GeneratorError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_EQ(e.method(), helper.name() + "(::Float32)");
}

TEST_F(Fixture, NoMethodForTheKernelOrACallee) {
    EXPECT_THROW(kc.compile(kernel, kernel_tt(), kHost), MethodError);
    Function& helper = Function::define(unique("helper")); // no methods
    add_generator(table, kernel, Signature({Ptr(Float32())}), store_call(&helper));
    auto e = expect_uncached_error<MethodError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_NE(std::string(e.what()).find("called from " + name()), std::string::npos) << e.what();
}

TEST_F(Fixture, UnsupportedSourceType) {
    add_method(table, kernel, Signature({Ptr(Float32())}), std::string("not IR"));
    expect_uncached_error<SourceTypeError>(kc, kernel, kernel_tt(), kHost);
}

// One IR method per convention violation: the message names the symbol and the line.
struct Violation {
    const char* what;
    std::string decl; // line 2 of the IR
    std::string call; // the call in the body
    const char* message;
};

TEST_F(Fixture, IRConventionViolationsNameSymbolAndLine) {
    Function& helper = Function::define(unique("helper"));
    add_generator(table, helper, Signature({Float32()}), add_const(1.0f), Float32());
    const std::string h = helper.name();
    const std::vector<Violation> cases = {
        {"no types", "declare float @" + h + "(float)", "call float @" + h + "(float 1.0)",
         "lacks !kcache.types"},
        {"count", "declare !kcache.types !{!\"Float32\", !\"Float32\"} float @" + h + "(float)",
         "call float @" + h + "(float 1.0)", "lists 2 types"},
        {"llvm type", "declare !kcache.types !{!\"Int32\"} float @" + h + "(float)",
         "call float @" + h + "(float 1.0)", "lowers to i32"},
        {"unknown type", "declare !kcache.types !{!\"Float31\"} float @" + h + "(float)",
         "call float @" + h + "(float 1.0)", "unknown type 'Float31'"},
        {"abstract type", "declare !kcache.types !{!\"Real\"} float @" + h + "(float)",
         "call float @" + h + "(float 1.0)", "not concrete"},
        {"return type", "declare !kcache.types !{!\"Float32\"} double @" + h + "(float)",
         "call double @" + h + "(float 1.0)", "has type `float (float)`"},
        {"unknown function", "declare !kcache.types !{!\"Float32\"} float @no_such_fn(float)",
         "call float @no_such_fn(float 1.0)", "'no_such_fn', which is not defined"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        define_ir("; " + std::string(c.what) + "\n" + c.decl + "\ndefine void @" + name() +
                  "(ptr addrspace(1) %out) {\n  %v = " + c.call + "\n  ret void\n}\n");
        auto e = expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
        EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
        EXPECT_EQ(e.line(), 2) << e.what();
        EXPECT_EQ(e.method(), name() + "(::Ptr{Float32})");
        EXPECT_FALSE(e.symbol().empty());
    }
}

// Hostile IR sources: not bitcode at all, truncated bitcode, text with NUL bytes, a symbol name
// of a megabyte, type metadata nested past the parser's limit. Typed errors, bounded messages.
TEST_F(Fixture, HostileIRSourcesAreTypedErrorsWithBoundedMessages) {
    add_ir_method(table, kernel, Signature({Ptr(Float32())}),
                  LlvmIR::bitcode({0x42, 0x43, 0xc0, 0xde, 0xff, 0xff, 0xff, 0xff}));
    auto garbage = expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_NE(std::string(garbage.what()).find("cannot read bitcode"), std::string::npos);

    define_ir(std::string("define void @") + name() + "(ptr addrspace(1) %out) {\n\0\n}\n");
    expect_uncached_error<IRParseError>(kc, kernel, kernel_tt(), kHost);

    const std::string huge(1 << 20, 'h');
    define_ir("declare !kcache.types !{!\"Float32\"} float @" + huge + "(float)\ndefine void @" +
              name() + "(ptr addrspace(1) %out) {\n  %v = call float @" + huge +
              "(float 1.0)\n  ret void\n}\n");
    auto unknown = expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_EQ(unknown.symbol(), huge);
    EXPECT_LT(std::string(unknown.what()).size(), 2000u);

    Function& helper = Function::define(unique("helper"));
    add_generator(table, helper, Signature({Float32()}), add_const(1.0f), Float32());
    std::string deep;
    for (int i = 0; i < 1000; ++i)
        deep += "Ptr{";
    deep += "Float32" + std::string(1000, '}');
    define_ir("declare !kcache.types !{!\"" + deep + "\"} float @" + helper.name() +
              "(float)\ndefine void @" + name() + "(ptr addrspace(1) %out) {\n  %v = call float @" +
              helper.name() + "(float 1.0)\n  ret void\n}\n");
    auto nested = expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_NE(std::string(nested.what()).find("deeper than 64"), std::string::npos)
        << nested.what();
    EXPECT_EQ(nested.line(), 1);
}

TEST_F(Fixture, IREntryMustExistAndMatchTheSignature) {
    define_ir("define void @other(ptr addrspace(1) %out) {\n  ret void\n}\n");
    auto missing = expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_NE(std::string(missing.what()).find("does not define the entry"), std::string::npos);

    define_ir("\n\ndefine void @" + name() + "(ptr %out) {\n  ret void\n}\n");
    auto wrong = expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
    EXPECT_EQ(wrong.line(), 3);
    EXPECT_NE(std::string(wrong.what()).find("ptr addrspace(1)"), std::string::npos)
        << wrong.what();
}

TEST_F(Fixture, BadBitcodeIsAConventionError) {
    add_ir_method(table, kernel, Signature({Ptr(Float32())}),
                  LlvmIR::bitcode({'B', 'C', 0xc0, 0xde, 1, 2, 3}));
    expect_uncached_error<IRConventionError>(kc, kernel, kernel_tt(), kHost);
}

TEST(IRMethods, SignaturesMustBeConcrete) {
    MethodTable& table = fresh_table("sig");
    Function& f = Function::define(unique("f"));
    Type T = Type::type_var("T", types::AbstractFloat());
    EXPECT_THROW(add_ir_method(table, f, Signature({T}, {T}), LlvmIR::text("x")),
                 InvalidSignatureError);
    EXPECT_THROW(add_ir_method(table, f, Signature({types::Real()}), LlvmIR::text("x")),
                 InvalidSignatureError);
    EXPECT_THROW(add_ir_method(table, f, Signature({Float32()}), LlvmIR::text("")),
                 InvalidArgumentError);
    EXPECT_THROW(add_generator(table, f, Signature({Float32()}), nullptr), InvalidArgumentError);
    EXPECT_THROW(add_generator(table, f, Signature({Float32()}), add_const(1), T),
                 InvalidSignatureError);
}

TEST(IRMethods, ConventionHelpers) {
    EXPECT_EQ(generic_name("muladd$f32"), "muladd");
    EXPECT_EQ(generic_name("muladd"), "muladd");
    EXPECT_EQ(symbol_line("; c\ndeclare float @f$x(float)\ndefine void @k() {\n", "f$x"), 2);
    EXPECT_EQ(symbol_line("define void @\"k\"(i32 %x) {\n", "k"), 1);
    EXPECT_EQ(symbol_line("  call void @g()\n", "g"), 0); // a call is not a declaration
}

TEST(TypeNames, ParseLatticeNames) {
    EXPECT_EQ(parse_type("Float32"), Float32());
    EXPECT_EQ(parse_type(" Ptr{Float32} "), Ptr(Float32()));
    EXPECT_EQ(parse_type("Ptr{Ptr{Int8}}"), Ptr(Ptr(types::Int8())));
    EXPECT_EQ(parse_type("Ptr{Float32, shared}"), Ptr(Float32(), AddressSpace::Shared));
    EXPECT_EQ(parse_type_list("Float32,Ptr{Float32}, Int32"),
              Type::tuple({Float32(), Ptr(Float32()), Int32()}));
    EXPECT_EQ(parse_type_list(""), Type::tuple({}));
    for (const char* bad :
         {"Float31", "Ptr{Float32", "Ptr{}", "Ptr{Float32, moon}", "Tuple{}", "Float32}", ""})
        EXPECT_THROW(parse_type(bad), KernelTypeError) << bad;
    EXPECT_THROW(parse_type_list("Float32,,Int32"), KernelTypeError);
    EXPECT_EQ(mangle(Type::tuple({Float32(), Ptr(Float32())})), "Float32.Ptr_Float32_");
}

} // namespace
} // namespace kcache::test
