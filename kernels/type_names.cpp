#include "kernels/type_names.hpp"

#include "kernels/errors.hpp"

#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Type.h>
#include <llvm/Support/raw_ostream.h>

#include <cctype>

namespace kcache::kernels {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

// Splits at commas outside braces.
std::vector<std::string_view> split_top(std::string_view s, std::string_view whole) {
    std::vector<std::string_view> parts;
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '{')
            ++depth;
        else if (s[i] == '}' && --depth < 0)
            throw KernelTypeError("unbalanced '}' in type '" + std::string(whole) + "'");
        else if (s[i] == ',' && depth == 0) {
            parts.push_back(trim(s.substr(start, i - start)));
            start = i + 1;
        }
    }
    if (depth != 0)
        throw KernelTypeError("unbalanced '{' in type '" + std::string(whole) + "'");
    parts.push_back(trim(s.substr(start)));
    return parts;
}

AddressSpace parse_space(std::string_view s, std::string_view whole) {
    for (auto space : {AddressSpace::Generic, AddressSpace::Global, AddressSpace::Shared,
                       AddressSpace::Constant, AddressSpace::Local})
        if (to_string(space) == s)
            return space;
    throw KernelTypeError("unknown address space '" + std::string(s) + "' in type '" +
                          std::string(whole) + "' (generic, global, shared, constant, local)");
}

Type parse(std::string_view text, std::string_view whole) {
    text = trim(text);
    if (text.empty())
        throw KernelTypeError("empty type name in '" + std::string(whole) + "'");
    if (text.starts_with("Ptr{")) {
        if (!text.ends_with("}"))
            throw KernelTypeError("type '" + std::string(whole) + "': Ptr{...} lacks its '}'");
        auto inner = split_top(text.substr(4, text.size() - 5), whole);
        if (inner.size() > 2)
            throw KernelTypeError("type '" + std::string(whole) +
                                  "': Ptr takes an element type and an optional address space");
        Type element = parse(inner[0], whole);
        AddressSpace space =
            inner.size() == 2 ? parse_space(inner[1], whole) : AddressSpace::Global;
        try {
            return Type::pointer(element, space);
        } catch (const Error& e) {
            throw KernelTypeError("type '" + std::string(whole) + "': " + e.what());
        }
    }
    for (char c : text)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
            throw KernelTypeError("malformed type name '" + std::string(text) + "' in '" +
                                  std::string(whole) + "'");
    if (auto t = Type::find(text))
        return *t;
    throw KernelTypeError("unknown type '" + std::string(text) + "'");
}

} // namespace

Type parse_type(std::string_view text) {
    return parse(text, text);
}

Type parse_type_list(std::string_view text) {
    std::vector<Type> types;
    if (!trim(text).empty())
        for (auto part : split_top(text, text))
            types.push_back(parse(part, text));
    return Type::tuple(types);
}

llvm::Type* llvm_type(Type t, llvm::LLVMContext& ctx) {
    if (t.kind() == TypeKind::Pointer)
        return llvm::PointerType::get(ctx, static_cast<unsigned>(t.address_space()));
    if (t == types::Bool() || t == types::Int8() || t == types::UInt8())
        return llvm::Type::getInt8Ty(ctx);
    if (t == types::Int16() || t == types::UInt16())
        return llvm::Type::getInt16Ty(ctx);
    if (t == types::Int32() || t == types::UInt32())
        return llvm::Type::getInt32Ty(ctx);
    if (t == types::Int64() || t == types::UInt64())
        return llvm::Type::getInt64Ty(ctx);
    if (t == types::Float16())
        return llvm::Type::getHalfTy(ctx);
    if (t == types::BFloat16())
        return llvm::Type::getBFloatTy(ctx);
    if (t == types::Float32())
        return llvm::Type::getFloatTy(ctx);
    if (t == types::Float64())
        return llvm::Type::getDoubleTy(ctx);
    throw KernelTypeError("type " + t.str() + " has no LLVM representation in kernels");
}

std::string llvm_type_str(const llvm::Type* t) {
    std::string s;
    llvm::raw_string_ostream os(s);
    t->print(os);
    return s;
}

bool is_float(Type t) {
    return t == types::Float16() || t == types::BFloat16() || t == types::Float32() ||
           t == types::Float64();
}

bool is_signed(Type t) {
    return t == types::Int8() || t == types::Int16() || t == types::Int32() || t == types::Int64();
}

Type substitute(Type t, std::span<const Type> type_vars, std::span<const Type> sparams) {
    if (!t.has_type_vars())
        return t;
    switch (t.kind()) {
    case TypeKind::TypeVar:
        for (std::size_t i = 0; i < type_vars.size() && i < sparams.size(); ++i)
            if (type_vars[i] == t)
                return sparams[i];
        return t;
    case TypeKind::Pointer:
        return Type::pointer(substitute(t.element(), type_vars, sparams), t.address_space());
    case TypeKind::Tuple: {
        std::vector<Type> elements;
        for (Type e : t.elements())
            elements.push_back(substitute(e, type_vars, sparams));
        return Type::tuple(elements);
    }
    default:
        return t;
    }
}

std::string mangle(Type tt) {
    std::string out;
    auto add = [&](Type t) {
        if (!out.empty())
            out += '.';
        for (char c : t.str())
            out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    };
    if (tt.kind() == TypeKind::Tuple)
        for (Type t : tt.elements())
            add(t);
    else
        add(tt);
    return out;
}

} // namespace kcache::kernels
