#include "runtime/kernel_args.hpp"

#include "core/errors.hpp"
#include "kernels/errors.hpp"

namespace kcache::runtime {

ParamLayout param_layout(Type t) {
    using namespace types;
    auto same = [](std::uint32_t n, ParamKind kind) { return ParamLayout{n, n, kind}; };
    if (t.kind() == TypeKind::Pointer)
        return same(sizeof(void*), ParamKind::Pointer);
    if (t == Bool() || t == Int8() || t == UInt8())
        return same(1, ParamKind::Integer);
    if (t == Int16() || t == UInt16())
        return same(2, ParamKind::Integer);
    if (t == Int32() || t == UInt32())
        return same(4, ParamKind::Integer);
    if (t == Int64() || t == UInt64())
        return same(8, ParamKind::Integer);
    if (t == Float16() || t == BFloat16())
        return same(2, ParamKind::Float);
    if (t == Float32())
        return same(4, ParamKind::Float);
    if (t == Float64())
        return same(8, ParamKind::Float);
    throw kernels::KernelTypeError("type " + t.str() + " cannot be a kernel argument");
}

void fill_parameter_layout(Type tt, std::span<ParamLayout> out) {
    const auto elements = tt.elements();
    if (elements.size() != out.size())
        throw InvalidArgumentError("parameter layout of " + tt.str() + ": room for " +
                                   std::to_string(out.size()) + " parameters, not " +
                                   std::to_string(elements.size()));
    for (std::size_t i = 0; i < elements.size(); ++i)
        out[i] = param_layout(elements[i]);
}

std::vector<ParamLayout> parameter_layout(Type tt) {
    std::vector<ParamLayout> out(tt.elements().size());
    fill_parameter_layout(tt, out);
    return out;
}

} // namespace kcache::runtime
