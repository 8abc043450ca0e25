// Helpers for core tests: functions and tables are process-wide, so every test makes fresh ones.
#pragma once

#include <atomic>
#include <string>

#include "core/function.hpp"
#include "core/method_table.hpp"

namespace kcache::test {

inline std::string unique_name(const std::string& base) {
    static std::atomic<int> counter{0};
    return base + "_" + std::to_string(counter.fetch_add(1));
}

inline Function& fresh_function(const std::string& base) {
    return Function::define(unique_name(base));
}

inline MethodTable& fresh_overlay(const std::string& base,
                                  MethodTable& parent = MethodTable::global()) {
    return MethodTable::create_overlay(unique_name(base), parent);
}

} // namespace kcache::test
