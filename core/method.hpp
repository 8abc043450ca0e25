// A method: one definition of a generic function for a signature, in one method table, with a
// source of any type (Julia IR, LLVM IR, a generator callable...) that only its compiler reads.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>

#include "core/errors.hpp"
#include "core/function.hpp"
#include "core/signature.hpp"

namespace kcache {

/// The open end of a world range: valid until further notice.
inline constexpr std::uint64_t kMaxWorld = std::numeric_limits<std::uint64_t>::max();

class MethodTable;
class MethodInstance;
class CacheBase;
namespace detail {
class WorldState;
}

/// Methods are immortal: a redefinition closes the old method's world range instead of freeing
/// it, so method instances and lookups at older worlds stay valid.
/// Thread-safety: all public operations are thread-safe.
class Method {
public:
    Function& function() const { return *function_; }
    MethodTable& table() const { return *table_; }
    const Signature& signature() const { return signature_; }
    /// The method is visible in worlds [primary_world, deleted_world).
    std::uint64_t primary_world() const { return primary_world_; }
    std::uint64_t deleted_world() const;
    bool valid_at(std::uint64_t world) const;

    /// The source, as the type it was added with; throws SourceTypeError for another type.
    template <class T>
    const T& source() const {
        if (source_type_ != std::type_index(typeid(T)))
            throw SourceTypeError("source of method " + str() + " is a " + source_type_.name() +
                                  ", not a " + typeid(T).name());
        return *static_cast<const T*>(source_.get());
    }
    std::type_index source_type() const { return source_type_; }

    /// "f(::Int32, ::Ptr{T}) where T<:AbstractFloat".
    std::string str() const { return signature_.str(function_->name()); }

    Method(const Method&) = delete;
    Method& operator=(const Method&) = delete;
    ~Method();

private:
    friend class detail::WorldState;
    friend class MethodTable;
    friend class CacheBase;
    Method(Function& f, MethodTable& table, Signature sig, std::shared_ptr<const void> source,
           std::type_index source_type, std::uint64_t world);

    Function* function_;
    MethodTable* table_;
    Signature signature_;
    std::shared_ptr<const void> source_;
    std::type_index source_type_;
    std::uint64_t primary_world_;
    std::uint64_t deleted_world_; // guarded by the world lock

    // Specialisations, unique per argument-type tuple. Created under the world lock held shared,
    // so they have their own mutex.
    std::mutex instances_mutex_;
    std::unordered_map<Type, std::unique_ptr<MethodInstance>> instances_;
};

} // namespace kcache
