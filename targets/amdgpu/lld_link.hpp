// In-process lld (ELF driver) for turning an AMDGPU relocatable object into an HSACO.
// Internal to targets/. Thread-safety: lld keeps global state and is not re-entrant, so calls are
// serialised by a process-wide mutex; each call links in its own private temporary directory.
// lld runs in a recovery region (taken inside the mutex, so a crash never leaves it locked); after
// a crash lld is not used again in this process.
#pragma once

#include "targets/llvm/crash_recovery.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace kcache::detail {

/// `ld.lld -shared --no-undefined <object> -o <out>`; returns the shared object's bytes.
/// Throws CodegenError with lld's messages on failure, LoweringCrashError about `subject` when lld
/// crashed.
std::vector<std::uint8_t> lld_link_shared(const std::vector<char>& object,
                                          const CompileSubject& subject);

} // namespace kcache::detail
