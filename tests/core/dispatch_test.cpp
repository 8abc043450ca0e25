#include <gtest/gtest.h>

#include <string>

#include "core/dispatch.hpp"
#include "core/errors.hpp"
#include "test_support.hpp"

namespace kcache {
namespace {

using namespace types;
using test::fresh_function;
using test::fresh_overlay;

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

TEST(Dispatch, MostSpecificMethodWins) {
    Function& f = fresh_function("most_specific");
    add_method(f, Signature{Any()}, std::string("any"));
    add_method(f, Signature{Real()}, std::string("real"));
    add_method(f, Signature{Int64()}, std::string("int64"));
    auto source = [&](Type arg) {
        return method_instance(f, Type::tuple({arg}))->def().source<std::string>();
    };
    EXPECT_EQ(source(Int64()), "int64");
    EXPECT_EQ(source(Int32()), "real");
    EXPECT_EQ(source(Float32()), "real");
    EXPECT_EQ(source(Ptr(Float32())), "any");
}

TEST(Dispatch, MultipleDispatchOnEveryArgument) {
    Function& f = fresh_function("multi");
    add_method(f, Signature{Float32(), Float32()}, 1);
    add_method(f, Signature{Float32(), Float64()}, 2);
    add_method(f, Signature{Float64(), Real()}, 3);
    auto which = [&](Type a, Type b) {
        return method_instance(f, Type::tuple({a, b}))->def().source<int>();
    };
    EXPECT_EQ(which(Float32(), Float32()), 1);
    EXPECT_EQ(which(Float32(), Float64()), 2);
    EXPECT_EQ(which(Float64(), Int8()), 3);
    EXPECT_EQ(method_instance(f, Type::tuple({Int8(), Int8()})), nullptr);
}

TEST(Dispatch, MethodInstancesAreUniqueAndCarryStaticParameters) {
    Function& f = fresh_function("saxpy");
    Type T = Type::type_var("T", AbstractFloat());
    add_method(f, Signature({T, Ptr(T), Ptr(T), Int32()}, {T}), 0);
    Type tt32 = Type::tuple({Float32(), Ptr(Float32()), Ptr(Float32()), Int32()});
    Type tt64 = Type::tuple({Float64(), Ptr(Float64()), Ptr(Float64()), Int32()});
    MethodInstance* a = method_instance(f, tt32);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a, method_instance(f, tt32));
    MethodInstance* b = method_instance(f, tt64);
    EXPECT_NE(a, b);
    EXPECT_EQ(&a->def(), &b->def());
    EXPECT_EQ(a->sparam("T"), Float32());
    EXPECT_EQ(b->sparams()[0], Float64());
    EXPECT_EQ(a->spec_types(), tt32);
    EXPECT_EQ(a->str(), f.name() + "(::Float32, ::Ptr{Float32}, ::Ptr{Float32}, ::Int32)");
    EXPECT_THROW(a->sparam("U"), InvalidArgumentError);
    // Int32 is no AbstractFloat: no method.
    EXPECT_EQ(method_instance(f, Type::tuple({Int32(), Ptr(Int32()), Ptr(Int32()), Int32()})),
              nullptr);
}

TEST(Dispatch, AmbiguityIsAnErrorNamingTheCandidates) {
    Function& f = fresh_function("ambiguous");
    add_method(f, Signature{Int64(), Real()}, 0);
    add_method(f, Signature{Real(), Int64()}, 0);
    try {
        method_instance(f, Type::tuple({Int64(), Int64()}));
        FAIL() << "expected AmbiguityError";
    } catch (const AmbiguityError& e) {
        EXPECT_EQ(e.candidates().size(), 2u);
        EXPECT_TRUE(contains(e.what(), "(::Int64, ::Real)")) << e.what();
        EXPECT_TRUE(contains(e.what(), "(::Real, ::Int64)")) << e.what();
        EXPECT_TRUE(contains(e.what(), f.name() + "(::Int64, ::Int64) is ambiguous")) << e.what();
    }
    // A method for the intersection resolves it.
    add_method(f, Signature{Int64(), Int64()}, 1);
    EXPECT_EQ(method_instance(f, Type::tuple({Int64(), Int64()}))->def().source<int>(), 1);
}

TEST(Dispatch, AbstractArgumentTypesAreRejected) {
    Function& f = fresh_function("abstract");
    add_method(f, Signature{Real()}, 0);
    try {
        method_instance(f, Type::tuple({Real()}));
        FAIL() << "expected AbstractTypeError";
    } catch (const AbstractTypeError& e) {
        EXPECT_TRUE(contains(e.what(), f.name())) << e.what();
        EXPECT_TRUE(contains(e.what(), "Real")) << e.what();
    }
    EXPECT_THROW(method_instance(f, Type::tuple({Ptr(Real())})), AbstractTypeError);
    EXPECT_THROW(method_instance(f, Int32()), InvalidArgumentError); // not a tuple
}

TEST(Dispatch, MissingMethodsGiveEmptyOrMethodError) {
    Function& f = fresh_function("missing");
    add_method(f, Signature{Int64()}, 0);
    add_method(f, Signature{Int64(), Int64()}, 0);
    Type tt = Type::tuple({Float64()});
    EXPECT_EQ(method_instance(f, tt), nullptr);
    try {
        require_method_instance(f, tt);
        FAIL() << "expected MethodError";
    } catch (const ArityError&) {
        FAIL() << "an arity that some method has is not an arity error";
    } catch (const MethodError& e) {
        EXPECT_TRUE(contains(e.what(), "no method matching " + f.name() + "(::Float64)"))
            << e.what();
        EXPECT_EQ(e.candidates().size(), 2u);
        EXPECT_TRUE(contains(e.what(), "candidates:\n  " + f.name() + "(::Int64)")) << e.what();
    }
    try {
        require_method_instance(f, Type::tuple({Int64(), Int64(), Int64()}));
        FAIL() << "expected ArityError";
    } catch (const ArityError& e) {
        EXPECT_TRUE(contains(e.what(), "takes 1 or 2 argument(s), not 3")) << e.what();
    }
    Function& none = fresh_function("no_methods");
    EXPECT_EQ(method_instance(none, tt), nullptr);
    EXPECT_THROW(require_method_instance(none, tt), MethodError);
}

TEST(Dispatch, UnknownFunctionsAreTypedErrors) {
    EXPECT_EQ(Function::find("kcache_no_such_function"), nullptr);
    EXPECT_THROW(Function::named("kcache_no_such_function"), UnknownFunctionError);
    EXPECT_THROW(Function::define(""), InvalidArgumentError);
    Function& f = Function::define("kcache_dispatch_defined_once");
    EXPECT_EQ(&f, &Function::define("kcache_dispatch_defined_once"));
    EXPECT_EQ(&f, &Function::named("kcache_dispatch_defined_once"));
}

TEST(WorldAge, LookupsSeeExactlyTheMethodsOfTheirWorld) {
    Function& f = fresh_function("world_age");
    Type tt = Type::tuple({Int64()});
    const std::uint64_t before = current_world();
    add_method(f, Signature{Real()}, 1);
    const std::uint64_t w1 = current_world();
    EXPECT_EQ(w1, before + 1);
    add_method(f, Signature{Int64()}, 2);
    const std::uint64_t w2 = current_world();
    add_method(f, Signature{Int64()}, 3); // redefinition
    const std::uint64_t w3 = current_world();

    EXPECT_EQ(method_instance(f, tt, MethodTable::global(), before), nullptr);
    EXPECT_EQ(method_instance(f, tt, MethodTable::global(), w1)->def().source<int>(), 1);
    EXPECT_EQ(method_instance(f, tt, MethodTable::global(), w2)->def().source<int>(), 2);
    EXPECT_EQ(method_instance(f, tt, MethodTable::global(), w3)->def().source<int>(), 3);
    EXPECT_EQ(method_instance(f, tt)->def().source<int>(), 3);
    EXPECT_EQ(MethodTable::global().methods(f).size(), 2u); // Real and the newest Int64
}

TEST(MethodTables, OverlayMethodsWinAndFallBackToTheParent) {
    Function& sin_f = fresh_function("sin");
    add_method(sin_f, Signature{Float32()}, std::string("libm"));
    add_method(sin_f, Signature{Float64()}, std::string("libm"));
    MethodTable& device = fresh_overlay("device");
    add_method(device, sin_f, Signature{Float32()}, std::string("libdevice"));
    auto src = [&](const MethodTable& t, Type arg) {
        return method_instance(sin_f, Type::tuple({arg}), t)->def().source<std::string>();
    };
    EXPECT_EQ(src(device, Float32()), "libdevice");
    EXPECT_EQ(src(device, Float64()), "libm"); // no overlay method: falls back
    EXPECT_EQ(src(MethodTable::global(), Float32()), "libm");
    // An overlay method wins even over a more specific global one: the overlay is asked first.
    Function& g = fresh_function("g");
    add_method(g, Signature{Int64()}, std::string("global"));
    add_method(device, g, Signature{Real()}, std::string("overlay"));
    EXPECT_EQ(method_instance(g, Type::tuple({Int64()}), device)->def().source<std::string>(),
              "overlay");
}

TEST(MethodTables, OverlaysStackAndStayIsolated) {
    Function& f = fresh_function("stacked");
    add_method(f, Signature{Int64()}, std::string("global"));
    MethodTable& vendor = fresh_overlay("vendor");
    MethodTable& arch = fresh_overlay("arch", vendor);
    MethodTable& other = fresh_overlay("other");
    add_method(vendor, f, Signature{Int64()}, std::string("vendor"));
    Type tt = Type::tuple({Int64()});
    auto src = [&](const MethodTable& t) {
        return method_instance(f, tt, t)->def().source<std::string>();
    };
    EXPECT_EQ(src(arch), "vendor");
    add_method(arch, f, Signature{Int64()}, std::string("arch"));
    EXPECT_EQ(src(arch), "arch");
    EXPECT_EQ(src(vendor), "vendor");
    EXPECT_EQ(src(other), "global"); // a sibling overlay sees none of it
    EXPECT_TRUE(arch.inherits_from(vendor));
    EXPECT_TRUE(arch.inherits_from(MethodTable::global()));
    EXPECT_FALSE(other.inherits_from(vendor));

    MethodTable& root = MethodTable::create_root(test::unique_name("root"));
    EXPECT_EQ(method_instance(f, tt, root), nullptr); // no fallback to the global table
    add_method(root, f, Signature{Int64()}, std::string("root"));
    EXPECT_EQ(src(root), "root");
    EXPECT_EQ(src(MethodTable::global()), "global");
}

TEST(Methods, SourcesAreTypeErasedAndCheckedOnRetrieval) {
    Function& f = fresh_function("sources");
    struct MyIR {
        std::vector<int> ops;
    };
    Method& m = add_method(f, Signature{Int32()}, MyIR{{1, 2, 3}});
    EXPECT_EQ(m.source<MyIR>().ops.size(), 3u);
    EXPECT_THROW(m.source<std::string>(), SourceTypeError);
    EXPECT_EQ(m.str(), f.name() + "(::Int32)");
    EXPECT_TRUE(m.valid_at(current_world()));
    add_method(f, Signature{Int32()}, MyIR{});
    EXPECT_FALSE(m.valid_at(current_world()));
}

} // namespace
} // namespace kcache
