// NamedRegistry: the storage of a process-wide registry of named entries (targets, device
// drivers): entries are appended under a unique name, found by name or listed in registration
// order, and never removed, so a handle may point at its entry for the life of the process.
// The registries themselves (targets/target_registry.hpp, runtime/device_registry.hpp) own one,
// give their entries meaning, and fill in their built-ins on first use.
//
// Thread-safety: thread-safe; lookups take a shared lock, registrations an exclusive one.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kcache {

/// Throws InvalidArgumentError unless `name` is 1..32 lowercase letters, digits, '_' or '-' (it
/// appears in specs, cache keys, file names and command lines); `what` names the registry's
/// entries in the message ("target", "device driver").
void check_registry_name(std::string_view name, std::string_view what);

/// Throws InvalidArgumentError: `what` '`name`' is already registered.
[[noreturn]] void throw_already_registered(std::string_view what, std::string_view name);

/// `Entry` has a `std::string name`.
template <class Entry>
class NamedRegistry {
public:
    /// Appends `entry`; throws as check_registry_name does, or when the name is taken.
    const Entry& add(std::unique_ptr<Entry> entry, std::string_view what) {
        check_registry_name(entry->name, what);
        std::unique_lock lock(mutex_);
        for (const auto& e : entries_)
            if (e->name == entry->name)
                throw_already_registered(what, entry->name);
        entries_.push_back(std::move(entry));
        return *entries_.back();
    }

    /// The entry registered as `name`, or nullptr.
    const Entry* find(std::string_view name) const {
        std::shared_lock lock(mutex_);
        for (const auto& e : entries_)
            if (e->name == name)
                return e.get();
        return nullptr;
    }

    /// Every entry, in registration order.
    std::vector<const Entry*> all() const {
        std::shared_lock lock(mutex_);
        std::vector<const Entry*> out;
        out.reserve(entries_.size());
        for (const auto& e : entries_)
            out.push_back(e.get());
        return out;
    }

    /// "a, b, c": the names, for messages and help texts.
    std::string names() const {
        std::shared_lock lock(mutex_);
        std::string s;
        for (const auto& e : entries_)
            s += (s.empty() ? "" : ", ") + e->name;
        return s;
    }

private:
    mutable std::shared_mutex mutex_;
    std::vector<std::unique_ptr<Entry>> entries_; // never shrinks: handles point into it
};

} // namespace kcache
