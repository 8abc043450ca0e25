// Errors of the runtime layer. Thread-safety: immutable after construction.
#pragma once

#include "core/errors.hpp"

namespace kcache::runtime {

/// A device or driver operation failed; the message names the call, the error and the device.
class RuntimeError : public Error {
public:
    using Error::Error;
};

/// A GPU backend that is absent: compiled out, or its driver library is not on this machine.
/// The one failure that means "no such device here" rather than "a device that does not work".
class DriverUnavailableError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// A device whose context is lost: a kernel faulted (an illegal address, an illegal
/// instruction, a trap, a timeout), leaving an error that the driver reports for every later
/// call. The message names the first failing call and its error; every later operation on the
/// device throws this again at once, without calling the driver.
class DeviceUnusableError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// A launch whose arguments cannot be passed to the chosen device (a buffer of another device,
/// a launch shape the device cannot run); raised before anything is launched.
class LaunchError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

} // namespace kcache::runtime
