#include "core/types.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "core/errors.hpp"
#include "core/excerpt.hpp"
#include "core/hash.hpp"

namespace kcache {

namespace detail {

struct TypeNode {
    TypeKind kind;
    AddressSpace address_space = AddressSpace::Generic;
    bool concrete = false;
    bool has_type_vars = false;
    bool builtin = false;
    std::uint32_t size_bytes = 0;
    std::uint64_t id = 0;
    std::size_t hash = 0;
    std::string name;
    const TypeNode* super = nullptr; // nominal: supertype; type variable: upper bound
    std::vector<Type> params;        // pointer: {element}; tuple: elements
};

} // namespace detail

using detail::TypeNode;

namespace {

struct VectorHash {
    std::size_t operator()(const std::vector<const TypeNode*>& v) const {
        std::size_t h = v.size();
        for (const TypeNode* n : v)
            h = hash_combine(h, n->hash);
        return h;
    }
};

} // namespace

/// Owns every type node. Interning tables are guarded by one mutex: types are created rarely
/// (declarations, first sight of an argument list) and read lock-free through handles.
class TypeFactory {
public:
    static TypeFactory& instance() {
        static TypeFactory factory;
        return factory;
    }

    const TypeNode* any() const { return any_; }
    static Type handle(const TypeNode* node) { return Type(node); }

    const TypeNode* make_nominal(TypeKind kind, std::string name, const TypeNode* super,
                                 std::uint32_t size, bool builtin) {
        std::lock_guard lock(mutex_);
        if (auto it = by_name_.find(name); it != by_name_.end()) {
            const TypeNode* existing = it->second;
            if (existing->builtin && !builtin)
                throw TypeDefinitionError("cannot redeclare builtin type '" + name + "'");
            if (existing->kind != kind || existing->super != super ||
                (kind == TypeKind::Concrete && existing->size_bytes != size))
                throw TypeDefinitionError(
                    "type '" + name + "' is already declared as " +
                    (existing->kind == TypeKind::Abstract ? "abstract" : "concrete") +
                    " with supertype " + existing->super->name);
            return existing;
        }
        if (super && super->kind != TypeKind::Abstract)
            throw TypeDefinitionError("supertype of '" + name + "' must be abstract, not '" +
                                      Type(super).str() + "'");
        TypeNode& n = nodes_.emplace_back();
        n.kind = kind;
        n.name = std::move(name);
        n.super = super;
        n.size_bytes = size;
        n.builtin = builtin;
        n.concrete = kind == TypeKind::Concrete;
        finish(n);
        by_name_.emplace(n.name, &n);
        return &n;
    }

    const TypeNode* make_pointer(Type element, AddressSpace space) {
        const auto key = std::pair{element.node(), space};
        {
            std::lock_guard lock(mutex_);
            if (auto it = pointers_.find(key); it != pointers_.end())
                return it->second;
            TypeNode& n = nodes_.emplace_back();
            n.kind = TypeKind::Pointer;
            n.address_space = space;
            n.params = {element};
            n.size_bytes = 8;
            n.concrete = element.is_concrete();
            n.has_type_vars = element.has_type_vars();
            n.super = any_;
            finish(n);
            pointers_.emplace(key, &n);
            return &n;
        }
    }

    const TypeNode* make_tuple(std::span<const Type> elements) {
        std::vector<const TypeNode*> key;
        key.reserve(elements.size());
        for (Type t : elements) {
            if (!t)
                throw InvalidArgumentError("tuple element is a null Type");
            key.push_back(t.node());
        }
        std::lock_guard lock(mutex_);
        if (auto it = tuples_.find(key); it != tuples_.end())
            return it->second;
        TypeNode& n = nodes_.emplace_back();
        n.kind = TypeKind::Tuple;
        n.params.assign(elements.begin(), elements.end());
        n.concrete = true;
        for (Type t : elements) {
            n.concrete = n.concrete && t.is_concrete();
            n.has_type_vars = n.has_type_vars || t.has_type_vars();
        }
        n.super = any_;
        finish(n);
        tuples_.emplace(std::move(key), &n);
        return &n;
    }

    const TypeNode* make_type_var(std::string name, Type bound) {
        if (name.empty())
            throw InvalidArgumentError("a type variable needs a name");
        if (!bound)
            throw InvalidArgumentError("type variable '" + name + "' has a null upper bound");
        if (bound.has_type_vars())
            throw InvalidSignatureError("upper bound of type variable '" + name +
                                        "' may not itself hold a type variable");
        std::lock_guard lock(mutex_);
        TypeNode& n = nodes_.emplace_back();
        n.kind = TypeKind::TypeVar;
        n.name = std::move(name);
        n.super = bound.node();
        n.has_type_vars = true;
        finish(n);
        return &n;
    }

    const TypeNode* find(std::string_view name) {
        std::lock_guard lock(mutex_);
        auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : it->second;
    }

private:
    TypeFactory() {
        any_ = make_nominal(TypeKind::Abstract, "Any", nullptr, 0, true);
        const_cast<TypeNode*>(any_)->super = any_;
    }

    void finish(TypeNode& n) {
        n.id = next_id_++;
        // Hash by id: nodes are unique, so identity hashing is exact and cheap.
        n.hash = hash_combine(0x51ed27ull, n.id * 0x9e3779b97f4a7c15ULL);
    }

    std::mutex mutex_;
    std::deque<TypeNode> nodes_; // deque: stable addresses
    std::map<std::string, const TypeNode*, std::less<>> by_name_;
    std::map<std::pair<const TypeNode*, AddressSpace>, const TypeNode*> pointers_;
    std::unordered_map<std::vector<const TypeNode*>, const TypeNode*, VectorHash> tuples_;
    std::uint64_t next_id_ = 1;
    const TypeNode* any_ = nullptr;
};

namespace {

struct Builtins {
    Type any, number, real, integer, signed_, unsigned_, abstract_float, bool_;
    Type i8, i16, i32, i64, u8, u16, u32, u64, f16, bf16, f32, f64;

    Builtins() {
        auto& f = TypeFactory::instance();
        auto abs = [&](const char* name, Type super) {
            return TypeFactory::handle(
                f.make_nominal(TypeKind::Abstract, name, super.node(), 0, true));
        };
        auto leaf = [&](const char* name, Type super, std::uint32_t size) {
            return TypeFactory::handle(
                f.make_nominal(TypeKind::Concrete, name, super.node(), size, true));
        };
        any = TypeFactory::handle(f.any());
        number = abs("Number", any);
        real = abs("Real", number);
        integer = abs("Integer", real);
        signed_ = abs("Signed", integer);
        unsigned_ = abs("Unsigned", integer);
        abstract_float = abs("AbstractFloat", real);
        bool_ = leaf("Bool", integer, 1);
        i8 = leaf("Int8", signed_, 1);
        i16 = leaf("Int16", signed_, 2);
        i32 = leaf("Int32", signed_, 4);
        i64 = leaf("Int64", signed_, 8);
        u8 = leaf("UInt8", unsigned_, 1);
        u16 = leaf("UInt16", unsigned_, 2);
        u32 = leaf("UInt32", unsigned_, 4);
        u64 = leaf("UInt64", unsigned_, 8);
        f16 = leaf("Float16", abstract_float, 2);
        bf16 = leaf("BFloat16", abstract_float, 2);
        f32 = leaf("Float32", abstract_float, 4);
        f64 = leaf("Float64", abstract_float, 8);
    }
};

const Builtins& builtins() {
    static const Builtins b;
    return b;
}

} // namespace

std::string_view to_string(AddressSpace space) {
    switch (space) {
    case AddressSpace::Generic:
        return "generic";
    case AddressSpace::Global:
        return "global";
    case AddressSpace::Shared:
        return "shared";
    case AddressSpace::Constant:
        return "constant";
    case AddressSpace::Local:
        return "local";
    }
    return "unknown";
}

TypeKind Type::kind() const {
    return node_->kind;
}
std::string_view Type::name() const {
    return node_->name;
}
Type Type::supertype() const {
    return Type(node_->super);
}
bool Type::is_concrete() const {
    return node_->concrete;
}
bool Type::has_type_vars() const {
    return node_->has_type_vars;
}
std::uint32_t Type::size_bytes() const {
    return node_->size_bytes;
}
Type Type::element() const {
    return node_->kind == TypeKind::Pointer ? node_->params[0] : Type();
}
AddressSpace Type::address_space() const {
    return node_->address_space;
}
std::span<const Type> Type::elements() const {
    if (node_->kind != TypeKind::Tuple)
        return {};
    return node_->params;
}
std::size_t Type::hash() const {
    return node_ ? node_->hash : 0;
}
std::uint64_t Type::id() const {
    return node_ ? node_->id : 0;
}

std::string Type::str() const {
    if (!node_)
        return "<null type>";
    // Depth-first with an explicit stack: types built in code may nest deeper than any stack.
    std::string out;
    struct Frame {
        const TypeNode* node;
        std::size_t next; // the parameter to print next
    };
    std::vector<Frame> stack;
    auto open = [&](const TypeNode* n) {
        switch (n->kind) {
        case TypeKind::Pointer:
            out += "Ptr{";
            stack.push_back({n, 0});
            return;
        case TypeKind::Tuple:
            out += "Tuple{";
            stack.push_back({n, 0});
            return;
        case TypeKind::Abstract:
        case TypeKind::Concrete:
        case TypeKind::TypeVar:
            out += n->name;
            return;
        }
    };
    open(node_);
    while (!stack.empty()) {
        const TypeNode* n = stack.back().node;
        if (std::size_t i = stack.back().next++; i < n->params.size()) {
            if (i > 0)
                out += ", ";
            open(n->params[i].node());
            continue;
        }
        if (n->kind == TypeKind::Pointer && n->address_space != AddressSpace::Global) {
            out += ", ";
            out += to_string(n->address_space);
        }
        out += '}';
        stack.pop_back();
    }
    return out;
}

namespace {

// Type::parse: one pass over the text with an explicit stack of the open Ptr{ and Tuple{.
class TypeParser {
public:
    TypeParser(std::string_view text, bool list) : text_(text), list_(list) {}

    Type run() {
        if (list_) {
            skip_blanks();
            if (pos_ == text_.size())
                return Type::tuple({});
            stack_.push_back({Open::List, {}, pos_});
        }
        for (;;) {
            Type value = next_value();
            // Close every frame the value completes; stop at one that wants another element.
            for (;;) {
                skip_blanks();
                if (stack_.empty()) {
                    if (pos_ != text_.size())
                        fail("unexpected '" + excerpt(text_.substr(pos_, 1)) + "' after the type");
                    return value;
                }
                Frame& top = stack_.back();
                top.elements.push_back(value);
                if (top.kind == Open::Ptr) {
                    value = close_pointer(top);
                } else if (accept(',')) {
                    break; // the next element follows
                } else if (top.kind == Open::Tuple && accept('}')) {
                    value = Type::tuple(top.elements);
                } else if (top.kind == Open::List && pos_ == text_.size()) {
                    value = Type::tuple(top.elements);
                } else {
                    fail(top.kind == Open::List ? "expected ',' or the end of the list"
                                                : "expected ',' or '}' in Tuple{...}");
                }
                stack_.pop_back();
            }
        }
    }

private:
    enum class Open { Ptr, Tuple, List };
    struct Frame {
        Open kind;
        std::vector<Type> elements;
        std::size_t start; // where the frame's text starts, for messages
    };

    static bool name_char(char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
               u == '_' || u == '.' || u >= 0x80;
    }

    [[noreturn]] void fail(const std::string& why) const {
        const bool at_end = pos_ >= text_.size();
        throw TypeParseError("cannot parse type '" + excerpt(text_, pos_) + "': " + why +
                                 (at_end ? " at its end" : " at byte " + std::to_string(pos_)),
                             pos_);
    }

    void skip_blanks() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    bool accept(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    std::string_view name() {
        skip_blanks();
        const std::size_t start = pos_;
        while (pos_ < text_.size() && name_char(text_[pos_]))
            ++pos_;
        return text_.substr(start, pos_ - start);
    }

    // A nominal type, or the head of a Ptr{ or Tuple{ (then pushed, and the loop goes on).
    Type next_value() {
        for (;;) {
            const std::size_t start = pos_;
            std::string_view n = name();
            if (n.empty())
                fail(pos_ == text_.size()
                         ? "expected a type name"
                         : "expected a type name, not '" + excerpt(text_.substr(pos_, 1)) + "'");
            skip_blanks();
            if (!accept('{')) {
                if (auto t = Type::find(n))
                    return *t;
                pos_ = start;
                skip_blanks();
                fail(n == "Ptr" || n == "Tuple" ? std::string(n) + " needs its parameters in {}"
                                                : "unknown type '" + excerpt(n) + "'");
            }
            if (n != "Ptr" && n != "Tuple") {
                pos_ = start;
                skip_blanks();
                fail("'" + excerpt(n) + "' takes no parameters (only Ptr{...} and Tuple{...} do)");
            }
            if (stack_.size() - (list_ ? 1 : 0) >= Type::kMaxParseDepth) {
                pos_ = start;
                skip_blanks();
                fail("types nest deeper than " + std::to_string(Type::kMaxParseDepth) + " levels");
            }
            stack_.push_back({n == "Ptr" ? Open::Ptr : Open::Tuple, {}, start});
            skip_blanks();
            if (n == "Tuple" && accept('}')) { // Tuple{}
                stack_.pop_back();
                return Type::tuple({});
            }
        }
    }

    // After the element of a Ptr{: an optional address space, then '}'.
    Type close_pointer(const Frame& frame) {
        AddressSpace space = AddressSpace::Global;
        if (accept(',')) {
            const std::size_t at = pos_;
            std::string_view s = name();
            bool known = false;
            for (auto a : {AddressSpace::Generic, AddressSpace::Global, AddressSpace::Shared,
                           AddressSpace::Constant, AddressSpace::Local})
                if (to_string(a) == s) {
                    space = a;
                    known = true;
                }
            if (!known) {
                pos_ = at;
                skip_blanks();
                fail("expected an address space (generic, global, shared, constant, local)");
            }
            skip_blanks();
        }
        if (!accept('}'))
            fail("expected '}' closing the Ptr{ at byte " + std::to_string(frame.start));
        try {
            return Type::pointer(frame.elements.front(), space);
        } catch (const Error& e) {
            pos_ = frame.start;
            fail(e.what());
        }
    }

    std::string_view text_;
    bool list_;
    std::size_t pos_ = 0;
    std::vector<Frame> stack_;
};

} // namespace

Type Type::parse(std::string_view text) {
    return TypeParser(text, false).run();
}

Type Type::parse_list(std::string_view text) {
    return TypeParser(text, true).run();
}

Type Type::pointer(Type element, AddressSpace space) {
    if (!element)
        throw InvalidArgumentError("Ptr of a null Type");
    if (element.kind() == TypeKind::Tuple)
        throw InvalidArgumentError("Ptr{" + element.str() +
                                   "}: tuples are argument lists, not "
                                   "pointee types");
    return Type(TypeFactory::instance().make_pointer(element, space));
}

Type Type::tuple(std::span<const Type> elements) {
    builtins(); // Any exists before the first tuple
    return Type(TypeFactory::instance().make_tuple(elements));
}

Type Type::tuple(std::initializer_list<Type> elements) {
    return tuple(std::span<const Type>(elements.begin(), elements.size()));
}

Type Type::type_var(std::string name, Type upper_bound) {
    return Type(TypeFactory::instance().make_type_var(std::move(name), upper_bound));
}

namespace {
void check_user_nominal(const std::string& name, Type supertype) {
    if (name.empty())
        throw InvalidArgumentError("a type needs a name");
    if (!supertype)
        throw InvalidArgumentError("type '" + name + "' has a null supertype");
    builtins(); // builtin names are taken before any user type is declared
}
} // namespace

Type Type::abstract_type(std::string name, Type supertype) {
    check_user_nominal(name, supertype);
    return Type(TypeFactory::instance().make_nominal(TypeKind::Abstract, std::move(name),
                                                     supertype.node(), 0, false));
}

Type Type::concrete_type(std::string name, Type supertype, std::uint32_t size_bytes) {
    check_user_nominal(name, supertype);
    return Type(TypeFactory::instance().make_nominal(TypeKind::Concrete, std::move(name),
                                                     supertype.node(), size_bytes, false));
}

std::optional<Type> Type::find(std::string_view name) {
    if (name != "Any")
        builtins();
    if (const TypeNode* n = TypeFactory::instance().find(name))
        return Type(n);
    return std::nullopt;
}

Type Type::named(std::string_view name) {
    if (auto t = find(name))
        return *t;
    throw UnknownTypeError(std::string(name));
}

bool issubtype(Type a, Type b) {
    if (a == b)
        return true;
    const TypeNode* bn = b.node();
    if (bn->kind == TypeKind::Abstract && bn->super == bn) // Any
        return true;
    switch (a.kind()) {
    case TypeKind::TypeVar:
        return issubtype(a.supertype(), b);
    case TypeKind::Abstract:
    case TypeKind::Concrete: {
        if (b.kind() == TypeKind::TypeVar)
            return issubtype(a, b.supertype());
        if (b.kind() != TypeKind::Abstract)
            return false;
        for (Type t = a;; t = t.supertype()) {
            if (t == b)
                return true;
            if (t.supertype() == t)
                return false;
        }
    }
    case TypeKind::Pointer:
        if (b.kind() == TypeKind::TypeVar)
            return issubtype(a, b.supertype());
        // Invariant in the element type, as in Julia.
        return b.kind() == TypeKind::Pointer && a.address_space() == b.address_space() &&
               a.element() == b.element();
    case TypeKind::Tuple: {
        if (b.kind() != TypeKind::Tuple || a.elements().size() != b.elements().size())
            return false;
        for (std::size_t i = 0; i < a.elements().size(); ++i)
            if (!issubtype(a.elements()[i], b.elements()[i]))
                return false;
        return true;
    }
    }
    return false;
}

namespace types {
Type Any() {
    return builtins().any;
}
Type Number() {
    return builtins().number;
}
Type Real() {
    return builtins().real;
}
Type Integer() {
    return builtins().integer;
}
Type Signed() {
    return builtins().signed_;
}
Type Unsigned() {
    return builtins().unsigned_;
}
Type AbstractFloat() {
    return builtins().abstract_float;
}
Type Bool() {
    return builtins().bool_;
}
Type Int8() {
    return builtins().i8;
}
Type Int16() {
    return builtins().i16;
}
Type Int32() {
    return builtins().i32;
}
Type Int64() {
    return builtins().i64;
}
Type UInt8() {
    return builtins().u8;
}
Type UInt16() {
    return builtins().u16;
}
Type UInt32() {
    return builtins().u32;
}
Type UInt64() {
    return builtins().u64;
}
Type Float16() {
    return builtins().f16;
}
Type BFloat16() {
    return builtins().bf16;
}
Type Float32() {
    return builtins().f32;
}
Type Float64() {
    return builtins().f64;
}
} // namespace types

} // namespace kcache
