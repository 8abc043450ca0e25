// A method instance: a method specialised for one concrete argument-type tuple, with the values
// its type variables bound to (Julia's static parameters). Unique per (method, tuple).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/method.hpp"
#include "core/types.hpp"

namespace kcache {

class CodeInstance;

/// Immortal, like its method. Thread-safety: accessors are immutable and thread-safe; the
/// bookkeeping (code instances, backedges) belongs to the world lock.
class MethodInstance {
public:
    const Method& def() const { return *def_; }
    Function& function() const { return def_->function(); }
    /// The concrete argument types, as a Tuple type.
    Type spec_types() const { return spec_types_; }
    /// The values bound to def().signature().type_vars(), in that order.
    std::span<const Type> sparams() const { return sparams_; }
    /// The value bound to the type variable called `name`; throws InvalidArgumentError.
    Type sparam(std::string_view name) const;

    /// "saxpy(::Float32, ::Ptr{Float32}, ::Ptr{Float32}, ::Int32)".
    std::string str() const;

    MethodInstance(const MethodInstance&) = delete;
    MethodInstance& operator=(const MethodInstance&) = delete;

private:
    friend class Method;
    friend class detail::WorldState;
    friend class CacheBase;
    MethodInstance(const Method& def, Type spec_types, std::vector<Type> sparams)
        : def_(&def), spec_types_(spec_types), sparams_(std::move(sparams)) {}

    const Method* def_;
    Type spec_types_;
    std::vector<Type> sparams_;

    // Guarded by the world lock (exclusive to write).
    std::vector<CodeInstance*> code_instances_; // valid ones, every cache and shard
    std::vector<CodeInstance*> backedges_;      // valid code instances that depend on this one
    std::uint64_t last_invalidated_world_ = 0;
};

} // namespace kcache
