// Typed errors thrown by kcache. Every error says what was asked (function, types, arch, IR line)
// so that a caller can report it without reconstructing context.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace kcache {

/// Base of every error kcache throws. Thread-safety: immutable after construction.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// An argument that no operation could accept: an empty cache tag, a null function, ...
class InvalidArgumentError : public Error {
public:
    using Error::Error;
};

/// A name that does not denote a known function or type.
class UnknownFunctionError : public Error {
public:
    explicit UnknownFunctionError(std::string name)
        : Error("unknown function '" + name + "'"), name_(std::move(name)) {}
    const std::string& name() const { return name_; }

private:
    std::string name_;
};

class UnknownTypeError : public Error {
public:
    explicit UnknownTypeError(std::string name)
        : Error("unknown type '" + name + "'"), name_(std::move(name)) {}
    const std::string& name() const { return name_; }

private:
    std::string name_;
};

/// Text that does not name a type (Type::parse): the message quotes the text, cut to a sane
/// length, and says where and why parsing stopped.
class TypeParseError : public Error {
public:
    TypeParseError(const std::string& what, std::size_t offset) : Error(what), offset_(offset) {}
    /// 0-based byte offset in the text where parsing stopped.
    std::size_t offset() const { return offset_; }

private:
    std::size_t offset_;
};

/// A type declaration that contradicts the lattice (redeclared with another supertype, ...).
class TypeDefinitionError : public Error {
public:
    using Error::Error;
};

/// A method signature that cannot be used: a type variable that does not bind, an undeclared one.
class InvalidSignatureError : public Error {
public:
    using Error::Error;
};

/// Specialisation asked for with a type that is not concrete (abstract, or holding a type
/// variable).
class AbstractTypeError : public Error {
public:
    using Error::Error;
};

/// No method applies to the argument types. `candidates` lists the methods that were considered.
class MethodError : public Error {
public:
    MethodError(const std::string& what, std::vector<std::string> candidates)
        : Error(what), candidates_(std::move(candidates)) {}
    const std::vector<std::string>& candidates() const { return candidates_; }

private:
    std::vector<std::string> candidates_;
};

/// No method of the function takes that many arguments.
class ArityError : public MethodError {
public:
    using MethodError::MethodError;
};

/// Several methods apply and none is more specific than all the others.
class AmbiguityError : public Error {
public:
    AmbiguityError(const std::string& what, std::vector<std::string> candidates)
        : Error(what), candidates_(std::move(candidates)) {}
    const std::vector<std::string>& candidates() const { return candidates_; }

private:
    std::vector<std::string> candidates_;
};

/// A compilation that needs itself, directly or through other threads' compilations.
class CompilationCycleError : public Error {
public:
    using Error::Error;
};

/// A method instance asked to be compiled whose method has been replaced since: its code could
/// never be served in the current world. Dispatch again for the current method instance.
class StaleMethodInstanceError : public Error {
public:
    using Error::Error;
};

/// A method's source retrieved as a type other than the one it was added with.
class SourceTypeError : public Error {
public:
    using Error::Error;
};

} // namespace kcache
