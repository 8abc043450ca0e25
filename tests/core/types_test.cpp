#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "core/excerpt.hpp"
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

namespace kcache {
namespace {

using namespace types;

TEST(TypeParse, RoundTripsEveryKindOfType) {
    Type user_abstract = Type::abstract_type("TypeParseShape", Any());
    Type user_concrete = Type::concrete_type("TypeParse.Circle_2", user_abstract, 8);
    Type unicode = Type::concrete_type("TypeParseVecφ", Any(), 12);
    std::vector<Type> all = {Any(),         Number(),        Real(),     Integer(), Signed(),
                             Unsigned(),    AbstractFloat(), Bool(),     Int8(),    Int16(),
                             Int32(),       Int64(),         UInt8(),    UInt16(),  UInt32(),
                             UInt64(),      Float16(),       BFloat16(), Float32(), Float64(),
                             user_abstract, user_concrete,   unicode};
    for (auto space : {AddressSpace::Generic, AddressSpace::Global, AddressSpace::Shared,
                       AddressSpace::Constant, AddressSpace::Local})
        all.push_back(Ptr(Float32(), space));
    all.push_back(Ptr(Ptr(Ptr(user_concrete), AddressSpace::Shared)));
    all.push_back(Type::tuple({}));
    all.push_back(Type::tuple({Int32(), Ptr(Float64(), AddressSpace::Local), Type::tuple({})}));
    all.push_back(Type::tuple({Type::tuple({Type::tuple({Real()})}), Ptr(unicode)}));
    Type deepest = Int8();
    for (int i = 1; i < Type::kMaxParseDepth; ++i)
        deepest = Ptr(deepest, i % 2 ? AddressSpace::Shared : AddressSpace::Global);
    deepest = Type::tuple({deepest, Bool()}); // the limit exactly
    all.push_back(deepest);
    for (Type t : all) {
        EXPECT_EQ(Type::parse(t.str()), t) << t.str();
        EXPECT_EQ(Type::parse(" \t" + t.str() + "\n"), t) << t.str();
    }
    // Blanks anywhere between tokens; lists as tuples.
    EXPECT_EQ(Type::parse(" Ptr { Ptr{ Int8 } ,shared } "), Ptr(Ptr(Int8()), AddressSpace::Shared));
    EXPECT_EQ(Type::parse_list("Float32,Ptr{Float32} , Int32"),
              Type::tuple({Float32(), Ptr(Float32()), Int32()}));
    EXPECT_EQ(Type::parse_list("  "), Type::tuple({}));
    EXPECT_EQ(Type::parse_list("Tuple{}"), Type::tuple({Type::tuple({})}));
}

TEST(TypeParse, TypeVariablesDoNotRoundTrip) {
    // A type variable prints as its name, which names no type outside its signature.
    Type t = Type::type_var("TypeParseUnboundT", Real());
    EXPECT_EQ(t.str(), "TypeParseUnboundT");
    EXPECT_THROW(Type::parse(t.str()), TypeParseError);
}

// Each malformed text gives a TypeParseError at the offset where parsing stopped.
TEST(TypeParse, MalformedTextSaysWhereAndWhy) {
    struct Case {
        const char* text;
        std::size_t offset;
        const char* why;
    };
    const Case cases[] = {
        {"", 0, "expected a type name"},
        {"   ", 3, "expected a type name"},
        {"Float31", 0, "unknown type 'Float31'"},
        {"Ptr{Float32", 11, "expected '}' closing the Ptr{"},
        {"Ptr{}", 4, "expected a type name, not '}'"},
        {"Ptr", 0, "Ptr needs its parameters"},
        {"Ptr{Float32, moon}", 13, "expected an address space"},
        {"Ptr{Float32, shared, global}", 19, "expected '}'"},
        {"Ptr{Tuple{}}", 0, "tuples are argument lists"},
        {"Float32{Int8}", 0, "'Float32' takes no parameters"},
        {"Float32}", 7, "unexpected '}' after the type"},
        {"Float32 Int32", 8, "unexpected 'I' after the type"},
        {"Tuple{Int32,}", 12, "expected a type name, not '}'"},
        {"Tuple{Int32 Int8}", 12, "expected ',' or '}' in Tuple{...}"},
        {"Ptr{Float32)", 11, "expected '}'"},
        {"Int32,", 5, "unexpected ','"},
        {"Ptr{-}", 4, "expected a type name, not '-'"},
    };
    for (const Case& c : cases) {
        try {
            Type::parse(c.text);
            ADD_FAILURE() << "parsed '" << c.text << "'";
        } catch (const TypeParseError& e) {
            EXPECT_EQ(e.offset(), c.offset) << c.text << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find(c.why), std::string::npos)
                << c.text << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find("'" + std::string(c.text) + "'"),
                      std::string::npos)
                << e.what();
        }
    }
    EXPECT_THROW(Type::parse_list("Float32,,Int32"), TypeParseError);
    EXPECT_THROW(Type::parse_list("Float32,"), TypeParseError);
    EXPECT_THROW(Type::parse_list("Float32 Int32"), TypeParseError);
}

TEST(TypeParse, NestingPastTheLimitIsAClearErrorNotAStackOverflow) {
    std::string ok, deep;
    for (int i = 0; i < Type::kMaxParseDepth; ++i)
        ok += "Ptr{";
    ok += "Int8" + std::string(Type::kMaxParseDepth, '}');
    EXPECT_EQ(Type::parse(ok).str(), ok);

    // The reported crash: Ptr{ nested 25,000 deep, which recursed without limit.
    for (int i = 0; i < 25000; ++i)
        deep += "Ptr{";
    deep += "Float32" + std::string(25000, '}');
    try {
        Type::parse(deep);
        FAIL() << "parsed " << deep.size() << " bytes of nesting";
    } catch (const TypeParseError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("deeper than " + std::to_string(Type::kMaxParseDepth)),
                  std::string::npos);
        EXPECT_EQ(e.offset(), 4u * Type::kMaxParseDepth);
        EXPECT_LT(what.size(), 2 * kExcerptBytes + 200) << "the message quotes all the input";
        EXPECT_NE(what.find(std::to_string(deep.size()) + " bytes in all"), std::string::npos);
    }
    // Unbalanced at every depth below the limit, and a long flat list, are handled too.
    EXPECT_THROW(Type::parse(std::string(Type::kMaxParseDepth * 4, '{')), TypeParseError);
    std::string list;
    for (int i = 0; i < 100000; ++i)
        list += i ? ", Float32" : "Float32";
    EXPECT_EQ(Type::parse_list(list).elements().size(), 100000u);
}

TEST(TypeParse, MessagesEscapeControlCharactersAndKeepUtf8) {
    try {
        Type::parse("Ptr{\x1b[31mred\x07}");
        FAIL();
    } catch (const TypeParseError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
        EXPECT_NE(what.find("\\x1b[31mred\\x07"), std::string::npos) << what;
    }
    try {
        Type::parse("Noφ\xff");
        FAIL();
    } catch (const TypeParseError& e) {
        EXPECT_NE(std::string(e.what()).find("unknown type 'Noφ\\xff'"), std::string::npos)
            << e.what();
    }
}

TEST(Excerpt, CutsLongTextAroundTheFocusOnCharacterBoundaries) {
    EXPECT_EQ(excerpt("short"), "short");
    EXPECT_EQ(excerpt("tab\there\n"), "tab\\x09here\\x0a");
    std::string text(1000, 'a');
    text.replace(500, 6, "XYZφ!"); // φ is two bytes
    std::string e = excerpt(text, 500, 30);
    EXPECT_EQ(e.substr(0, 3), "...");
    EXPECT_NE(e.find("XYZφ!"), std::string::npos) << e;
    EXPECT_NE(e.find("(1000 bytes in all)"), std::string::npos) << e;
    // A window edge inside the two-byte character moves off it rather than splitting it.
    for (std::size_t focus = 495; focus < 510; ++focus) {
        std::string cut = excerpt(text, focus, 8);
        EXPECT_EQ(cut.find("\\x"), std::string::npos) << focus << ": " << cut;
    }
}

} // namespace
} // namespace kcache
