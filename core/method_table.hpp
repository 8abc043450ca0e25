// Method tables: the global one, and overlay tables layered over a parent for device-only
// definitions. Dispatch looks in a table first and falls back to its parent only when the
// table has no applicable method, so an overlay method wins over a global one for the same
// call; overlays can stack. Tables are isolated: a method added to one is not seen through
// another unless that one is layered over it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "core/function.hpp"
#include "core/method.hpp"
#include "core/signature.hpp"

namespace kcache {

class MethodInstance;

/// Tables are immortal (Julia's are global constants). Thread-safety: thread-safe.
class MethodTable {
public:
    /// The process-wide global method table.
    static MethodTable& global();
    /// A new overlay table over `parent` (the global table unless told).
    static MethodTable& create_overlay(std::string name, MethodTable& parent = global());
    /// A new root table with no parent: nothing falls back to the global table.
    static MethodTable& create_root(std::string name);

    const std::string& name() const { return name_; }
    MethodTable* parent() const { return parent_; }
    /// True when dispatch through this table can reach methods of `other` (itself, or a
    /// table it is layered over).
    bool inherits_from(const MethodTable& other) const;
    /// The methods of `f` in this table alone that are valid in the current world.
    std::vector<const Method*> methods(const Function& f) const;

    MethodTable(const MethodTable&) = delete;
    MethodTable& operator=(const MethodTable&) = delete;

private:
    friend class detail::WorldState;
    MethodTable(std::string name, MethodTable* parent) : name_(std::move(name)), parent_(parent) {}

    std::string name_;
    MethodTable* parent_;

    // Guarded by the world lock.
    std::vector<MethodTable*> children_;
    // The methods valid in the current world, and every method ever added (for lookups at
    // older worlds). Keeping them apart keeps definitions and dispatch independent of how often
    // a function was redefined.
    std::unordered_map<const Function*, std::vector<Method*>> methods_;
    std::unordered_map<const Function*, std::vector<Method*>> history_;

    // Dispatch results in the current world, cleared per function when a definition could
    // change them. Read and filled under the world lock held shared, so it has its own mutex.
    mutable std::mutex dispatch_cache_mutex_;
    mutable std::unordered_map<const Function*, std::unordered_map<Type, MethodInstance*>>
        dispatch_cache_;
};

namespace detail {
Method& add_method(MethodTable& table, Function& f, Signature sig,
                   std::shared_ptr<const void> source, std::type_index source_type);
}

/// Adds a method of `f` for `sig` to `table`, advancing the world. A method with an equivalent
/// signature in the same table is redefined. Invalidates, in every cache, the code instances of
/// the redefined method and of method instances whose dispatch the new method changes, and
/// their dependents transitively; listeners are told before this returns.
template <class Source>
Method& add_method(MethodTable& table, Function& f, Signature sig, Source source) {
    using S = std::decay_t<Source>;
    return detail::add_method(table, f, std::move(sig),
                              std::make_shared<const S>(std::move(source)),
                              std::type_index(typeid(S)));
}

/// add_method in the global method table.
template <class Source>
Method& add_method(Function& f, Signature sig, Source source) {
    return add_method(MethodTable::global(), f, std::move(sig), std::move(source));
}

} // namespace kcache
