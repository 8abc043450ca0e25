#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "core/signature.hpp"

namespace kcache {
namespace {

using namespace types;

TEST(Signature, MatchingBindsTypeVariables) {
    Type T = Type::type_var("T", AbstractFloat());
    Signature saxpy({T, Ptr(T), Ptr(T), Int32()}, {T});
    auto bound = saxpy.match(Type::tuple({Float32(), Ptr(Float32()), Ptr(Float32()), Int32()}));
    ASSERT_TRUE(bound);
    ASSERT_EQ(bound->size(), 1u);
    EXPECT_EQ((*bound)[0], Float32());
    // T must be one type throughout, and an AbstractFloat.
    EXPECT_FALSE(saxpy.matches(Type::tuple({Float64(), Ptr(Float32()), Ptr(Float32()), Int32()})));
    EXPECT_FALSE(saxpy.matches(Type::tuple({Int32(), Ptr(Int32()), Ptr(Int32()), Int32()})));
    EXPECT_FALSE(saxpy.matches(Type::tuple({Float32(), Ptr(Float32())})));
    EXPECT_EQ(saxpy.str("saxpy"), "saxpy(::T, ::Ptr{T}, ::Ptr{T}, ::Int32) where T<:AbstractFloat");
}

TEST(Signature, DiagonalVariablesBindOneConcreteType) {
    Type T = Type::type_var("T", Real());
    Signature same({T, T}, {T});
    EXPECT_TRUE(same.matches(Type::tuple({Int32(), Int32()})));
    EXPECT_FALSE(same.matches(Type::tuple({Int32(), Int64()})));
    // (T, T) is strictly more specific than (Real, Real): the reverse needs T := Real.
    Signature reals({Real(), Real()});
    EXPECT_TRUE(same.more_specific_than(reals));
    EXPECT_FALSE(reals.more_specific_than(same));
    EXPECT_FALSE(same.equivalent(reals));
}

TEST(Signature, SpecificityOrdersMethods) {
    Signature ints({Int64()});
    Signature reals({Real()});
    Signature anys({Any()});
    EXPECT_TRUE(ints.more_specific_than(reals));
    EXPECT_TRUE(reals.more_specific_than(anys));
    EXPECT_FALSE(anys.more_specific_than(ints));
    Type T = Type::type_var("T", AbstractFloat());
    Signature generic({Ptr(T)}, {T});
    Signature f32({Ptr(Float32())});
    EXPECT_TRUE(f32.more_specific_than(generic));
    EXPECT_FALSE(generic.more_specific_than(f32));
    // Incomparable: neither is more specific.
    Signature a({Int64(), Real()});
    Signature b({Real(), Int64()});
    EXPECT_FALSE(a.more_specific_than(b));
    EXPECT_FALSE(b.more_specific_than(a));
}

TEST(Signature, EquivalentSignaturesAreTheSameDefinition) {
    Type T = Type::type_var("T", Int64());
    EXPECT_TRUE(Signature({T}, {T}).equivalent(Signature({Int64()})));
    EXPECT_TRUE(Signature({Int64(), Float32()}).equivalent(Signature({Int64(), Float32()})));
    EXPECT_FALSE(Signature({Int64()}).equivalent(Signature({Int32()})));
}

TEST(Signature, TypeVariablesThatDoNotBindAreRejected) {
    Type T = Type::type_var("T", Real());
    Type U = Type::type_var("U", Real());
    try {
        Signature({Int32()}, {T});
        FAIL() << "expected InvalidSignatureError";
    } catch (const InvalidSignatureError& e) {
        EXPECT_NE(std::string(e.what()).find("T<:Real"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("never bind"), std::string::npos) << e.what();
    }
    EXPECT_THROW(Signature({T, U}, {T}), InvalidSignatureError);          // U undeclared
    EXPECT_THROW(Signature({Int32()}, {Int32()}), InvalidSignatureError); // not a variable
    EXPECT_THROW(Signature({T}, {T, T}), InvalidSignatureError);
}

} // namespace
} // namespace kcache
