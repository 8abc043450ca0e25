#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "core/type_of.hpp"
#include "core/types.hpp"

namespace kcache {
namespace {

using namespace types;

TEST(Types, BuiltinLatticeFollowsJulia) {
    EXPECT_TRUE(issubtype(Int32(), Signed()));
    EXPECT_TRUE(issubtype(Int32(), Integer()));
    EXPECT_TRUE(issubtype(Int32(), Real()));
    EXPECT_TRUE(issubtype(Int32(), Number()));
    EXPECT_TRUE(issubtype(Int32(), Any()));
    EXPECT_TRUE(issubtype(UInt8(), Unsigned()));
    EXPECT_TRUE(issubtype(Bool(), Integer()));
    EXPECT_FALSE(issubtype(Bool(), Signed()));
    EXPECT_TRUE(issubtype(BFloat16(), AbstractFloat()));
    EXPECT_TRUE(issubtype(Float16(), Real()));
    EXPECT_FALSE(issubtype(Float32(), Integer()));
    EXPECT_FALSE(issubtype(Real(), Int32()));
    EXPECT_FALSE(issubtype(Int32(), Int64()));
    EXPECT_EQ(Any().supertype(), Any());
    EXPECT_EQ(Float32().supertype(), AbstractFloat());
    EXPECT_EQ(Float64().size_bytes(), 8u);
    EXPECT_TRUE(Int8().is_concrete());
    EXPECT_FALSE(Real().is_concrete());
}

TEST(Types, PointersAreInternedAndInvariant) {
    Type p = Ptr(Float32());
    EXPECT_EQ(p, Ptr(Float32()));
    EXPECT_NE(p, Ptr(Float32(), AddressSpace::Shared));
    EXPECT_EQ(p.element(), Float32());
    EXPECT_EQ(p.address_space(), AddressSpace::Global);
    EXPECT_TRUE(p.is_concrete());
    EXPECT_FALSE(Ptr(Real()).is_concrete());
    EXPECT_FALSE(issubtype(Ptr(Float32()), Ptr(AbstractFloat())));
    EXPECT_FALSE(issubtype(Ptr(Float32()), Ptr(Float32(), AddressSpace::Shared)));
    EXPECT_TRUE(issubtype(Ptr(Float32()), Any()));
    EXPECT_EQ(p.str(), "Ptr{Float32}");
    EXPECT_EQ(Ptr(Int32(), AddressSpace::Shared).str(), "Ptr{Int32, shared}");
}

TEST(Types, TuplesAreInternedAndCovariant) {
    Type a = Type::tuple({Int32(), Float32()});
    EXPECT_EQ(a, Type::tuple({Int32(), Float32()}));
    EXPECT_NE(a, Type::tuple({Float32(), Int32()}));
    EXPECT_TRUE(issubtype(a, Type::tuple({Integer(), Real()})));
    EXPECT_FALSE(issubtype(a, Type::tuple({Integer()})));
    EXPECT_EQ(a.str(), "Tuple{Int32, Float32}");
    EXPECT_TRUE(a.is_concrete());
    EXPECT_FALSE(Type::tuple({Real()}).is_concrete());
}

TEST(Types, UserTypesJoinTheLattice) {
    Type shape = Type::abstract_type("TypesTestShape", Any());
    Type circle = Type::concrete_type("TypesTestCircle", shape, 16);
    EXPECT_TRUE(issubtype(circle, shape));
    EXPECT_FALSE(issubtype(circle, Number()));
    EXPECT_EQ(Type::named("TypesTestCircle"), circle);
    // Redeclaring identically is fine; contradicting the first declaration is an error.
    EXPECT_EQ(Type::concrete_type("TypesTestCircle", shape, 16), circle);
    EXPECT_THROW(Type::concrete_type("TypesTestCircle", Any(), 16), TypeDefinitionError);
    EXPECT_THROW(Type::abstract_type("Float32", Real()), TypeDefinitionError);
    EXPECT_THROW(Type::concrete_type("TypesTestBad", circle), TypeDefinitionError);
    EXPECT_THROW(Type::named("NoSuchTypeAnywhere"), UnknownTypeError);
}

TEST(Types, TypeVarsAreDistinctAndNotConcrete) {
    Type t1 = Type::type_var("T", AbstractFloat());
    Type t2 = Type::type_var("T", AbstractFloat());
    EXPECT_NE(t1, t2);
    EXPECT_FALSE(t1.is_concrete());
    EXPECT_TRUE(Ptr(t1).has_type_vars());
    EXPECT_FALSE(Ptr(t1).is_concrete());
    EXPECT_TRUE(issubtype(t1, Real())); // stands for its bound on the left
    EXPECT_THROW(Type::type_var("U", Ptr(t1)), InvalidSignatureError);
}

TEST(Types, CppTypesMapOntoTheLattice) {
    EXPECT_EQ(type_of<float>(), Float32());
    EXPECT_EQ(type_of<double>(), Float64());
    EXPECT_EQ(type_of<std::int32_t>(), Int32());
    EXPECT_EQ(type_of<std::uint64_t>(), UInt64());
    EXPECT_EQ(type_of<bool>(), Bool());
    EXPECT_EQ(type_of<const float*>(), Ptr(Float32()));
    EXPECT_EQ(type_of<float16>(), Float16());
    EXPECT_EQ(type_of<bfloat16>(), BFloat16());
    EXPECT_EQ((tt_of<float, float*, int>()), Type::tuple({Float32(), Ptr(Float32()), Int32()}));
    float x = 1;
    float* p = &x;
    EXPECT_EQ(typeof_args(x, p), (tt_of<float, float*>()));
}

} // namespace
} // namespace kcache
