// The runtime type lattice, after Julia's:
//   Any ⊃ Number ⊃ Real ⊃ { Integer ⊃ { Signed: Int8..Int64, Unsigned: UInt8..UInt64, Bool },
//                            AbstractFloat ⊃ { Float16, BFloat16, Float32, Float64 } }
// plus pointer types Ptr{T, address space}, tuple types (argument-type tuples, Julia's `tt`),
// user-defined abstract and concrete types, and type variables with upper bounds for method
// signatures (`where T<:AbstractFloat`).
//
// Types are interned and immortal: a `Type` is one pointer, compared and hashed by identity, so
// that dispatch and cache lookups never compare structure.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kcache {

enum class TypeKind : std::uint8_t {
    Abstract, ///< nominal, never instantiated (Number, Real, user abstract types)
    Concrete, ///< nominal leaf type (Int32, Float64, user concrete types)
    Pointer,  ///< Ptr{T, address space}; invariant in T
    Tuple,    ///< Tuple{T1, ..., Tn}; covariant; the type of an argument list
    TypeVar,  ///< T<:UpperBound, only inside method signatures
};

/// The abstract memory spaces a pointer can point into. The lattice only names them; each
/// target gives them its own LLVM address-space numbers (targets/address_spaces.hpp).
enum class AddressSpace : std::uint8_t {
    Generic,  ///< any space (flat addressing)
    Global,   ///< device memory, visible to every thread; the default of Ptr{T}
    Shared,   ///< memory shared by the threads of a block
    Constant, ///< read-only device memory
    Local,    ///< memory private to a thread
};

std::string_view to_string(AddressSpace space);

namespace detail {
struct TypeNode;
}

/// A handle to an interned type. Trivially copyable; equality is identity.
/// Thread-safety: all operations are thread-safe (types are immutable once created).
class Type {
public:
    Type() = default;

    TypeKind kind() const;
    /// The nominal name ("Float32"), the type variable's name ("T"), or the printed form otherwise.
    std::string_view name() const;
    /// Nominal types: the direct supertype (Any's is Any). Type variables: the upper bound.
    /// Pointers and tuples: Any.
    Type supertype() const;
    /// True for types that values can have: concrete nominal types, pointers to concrete types
    /// and tuples of concrete types. Abstract types and anything holding a type variable are not.
    bool is_concrete() const;
    /// True when a type variable occurs anywhere inside.
    bool has_type_vars() const;
    /// Size in bytes of a primitive concrete type (0 when unknown, e.g. user concrete types
    /// declared without a size). Pointers are 8.
    std::uint32_t size_bytes() const;

    /// Pointers: the element type and the address space.
    Type element() const;
    AddressSpace address_space() const;
    /// Tuples: the element types.
    std::span<const Type> elements() const;

    /// Julia-style text: "Float32", "Ptr{Float32}", "Ptr{Float32, shared}", "Tuple{Int32, T}".
    /// Linear in the size of the text, without recursion.
    std::string str() const;

    /// The type `text` names, written as str() writes it: "Float32", "Ptr{Float32}",
    /// "Ptr{Int32, shared}", "Tuple{Int32, Ptr{Float32}}", "Tuple{}"; blanks around names, braces
    /// and commas are ignored. `parse(t.str()) == t` for every type except type variables (they
    /// mean something only inside a signature) and nominal types whose names are not identifiers
    /// (ASCII letters and digits, '_', '.', and non-ASCII UTF-8). Linear in the text, without
    /// recursion; braces may nest kMaxParseDepth deep. Throws TypeParseError, which quotes the
    /// text (cut to kExcerptBytes) and says where it went wrong.
    static Type parse(std::string_view text);
    /// A comma-separated list of types, "Float32, Ptr{Float32}", as their Tuple type; blank text
    /// is the empty tuple. Throws TypeParseError.
    static Type parse_list(std::string_view text);
    /// How deep braces may nest in parse(): far beyond any argument type, far below what would
    /// strain the stack of the code that walks types.
    static constexpr int kMaxParseDepth = 64;

    bool valid() const { return node_ != nullptr; }
    explicit operator bool() const { return valid(); }
    friend bool operator==(Type a, Type b) { return a.node_ == b.node_; }
    std::size_t hash() const;
    /// A process-unique small integer, stable for the type's (immortal) lifetime.
    std::uint64_t id() const;

    // --- constructors of interned types --------------------------------------------------------

    /// Ptr{element} in `space` (global memory unless told: kernel pointer arguments point there).
    static Type pointer(Type element, AddressSpace space = AddressSpace::Global);
    /// Tuple{elements...}; the same elements always give the same Type.
    static Type tuple(std::span<const Type> elements);
    static Type tuple(std::initializer_list<Type> elements);
    /// A fresh type variable `name<:upper_bound`. Each call makes a distinct variable.
    static Type type_var(std::string name, Type upper_bound);
    /// Declares a user abstract type. Declaring it again with the same supertype returns the
    /// existing one; with another supertype, or over a builtin, throws TypeDefinitionError.
    static Type abstract_type(std::string name, Type supertype);
    /// Declares a user concrete (leaf) type; `size_bytes` may be 0 when unknown.
    static Type concrete_type(std::string name, Type supertype, std::uint32_t size_bytes = 0);
    /// A nominal type by name, builtin or user; throws UnknownTypeError.
    static Type named(std::string_view name);
    static std::optional<Type> find(std::string_view name);

    const detail::TypeNode* node() const { return node_; }

private:
    explicit Type(const detail::TypeNode* node) : node_(node) {}
    friend struct detail::TypeNode;
    friend class TypeFactory;
    const detail::TypeNode* node_ = nullptr;
};

/// a <: b. Type variables on the left stand for their upper bound; on the right they are
/// matched by `Signature`, not here (a type variable on the right is a subtype test against
/// its upper bound).
bool issubtype(Type a, Type b);

/// The builtin lattice.
namespace types {
Type Any();
Type Number();
Type Real();
Type Integer();
Type Signed();
Type Unsigned();
Type AbstractFloat();
Type Bool();
Type Int8();
Type Int16();
Type Int32();
Type Int64();
Type UInt8();
Type UInt16();
Type UInt32();
Type UInt64();
Type Float16();
Type BFloat16();
Type Float32();
Type Float64();
/// Ptr{element} in global memory.
inline Type Ptr(Type element, AddressSpace space = AddressSpace::Global) {
    return Type::pointer(element, space);
}
} // namespace types

} // namespace kcache

template <>
struct std::hash<kcache::Type> {
    std::size_t operator()(kcache::Type t) const noexcept { return t.hash(); }
};
