// A generic function: a name that methods are attached to, in one or more method tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kcache {

class Type;

/// Functions are process-wide and immortal, like Julia's. Thread-safety: all operations are
/// thread-safe; a Function's accessors are immutable.
class Function {
public:
    /// Declares a function (Julia's `function f end`); declaring it again returns the same one.
    /// Throws InvalidArgumentError for an empty name.
    static Function& define(std::string_view name);
    /// The function called `name`; throws UnknownFunctionError if none was defined.
    static Function& named(std::string_view name);
    static Function* find(std::string_view name);

    const std::string& name() const { return name_; }
    std::uint64_t id() const { return id_; }

    Function(const Function&) = delete;
    Function& operator=(const Function&) = delete;

private:
    Function(std::string name, std::uint64_t id) : name_(std::move(name)), id_(id) {}
    friend class FunctionRegistry;

    std::string name_;
    std::uint64_t id_;
};

/// "f(::Int32, ::Ptr{Float32})": a call of `f` with the argument types of the tuple `tt`, as
/// messages print it.
std::string call_str(const Function& f, Type tt);

} // namespace kcache
