#include "kernels/type_names.hpp"

#include "core/excerpt.hpp"
#include "kernels/errors.hpp"

#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Type.h>
#include <llvm/Support/raw_ostream.h>

#include <cctype>

namespace kcache::kernels {
namespace {

// Kernel argument types are nominal types and pointers; a tuple is an argument list.
Type check_argument_type(Type t, std::string_view text) {
    if (t.kind() == TypeKind::Tuple)
        throw KernelTypeError("type '" + excerpt(text) +
                              "' is a tuple, which is an argument list, not an argument type");
    return t;
}

} // namespace

Type parse_type(std::string_view text) {
    try {
        return check_argument_type(Type::parse(text), text);
    } catch (const TypeParseError& e) {
        throw KernelTypeError(e.what());
    }
}

Type parse_type_list(std::string_view text) {
    Type tt;
    try {
        tt = Type::parse_list(text);
    } catch (const TypeParseError& e) {
        throw KernelTypeError(e.what());
    }
    for (Type t : tt.elements())
        check_argument_type(t, text);
    return tt;
}

llvm::Type* llvm_type(Type t, llvm::LLVMContext& ctx, const AddressSpaceMap& spaces) {
    if (t.kind() == TypeKind::Pointer)
        return llvm::PointerType::get(ctx, spaces[t.address_space()]);
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
