// Errors of the runtime layer. Thread-safety: immutable after construction.
#pragma once

#include "core/errors.hpp"

namespace kcache::runtime {

/// A device or driver operation failed; the message names the call, the error and the device.
class RuntimeError : public Error {
public:
    using Error::Error;
};

/// A launch whose arguments cannot be passed to the chosen device (a buffer of another device,
/// a launch shape the device cannot run); raised before anything is launched.
class LaunchError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

} // namespace kcache::runtime
