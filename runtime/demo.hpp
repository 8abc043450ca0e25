// `kcache run [--device host|cuda|hip|best]`: runs the kernel library on real data on the chosen
// device, checks every result against a C++ reference, shows cache hits, and a redefinition
// (an overlay muladd) that evicts saxpy's module and reloads the new code, with timings.
// Thread-safety: call from one thread at a time.
#pragma once

#include <iosfwd>
#include <string_view>

namespace kcache::runtime {

enum class DeviceChoice { Host, Cuda, Hip, Best };

/// "host", "cuda", "hip", "best"; throws InvalidArgumentError otherwise.
DeviceChoice parse_device_choice(std::string_view name);

/// Returns 0 when every check passed, 1 when one failed, 2 when the device is unavailable (the
/// reason is printed).
int run_demo(std::ostream& out, DeviceChoice choice = DeviceChoice::Best);

} // namespace kcache::runtime
