// `kcache run [--device NAME|best]`: runs the kernel library on real data on the chosen device
// (a registered device driver, runtime/device_registry.hpp), checks every result against a C++
// reference, shows cache hits, and a redefinition (an overlay muladd) that evicts saxpy's module
// and reloads the new code, with timings. Thread-safety: call from one thread at a time.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace kcache::cli {

/// `name` when it is "best" or a registered device driver ("host", "cuda", "hip", ...); throws
/// InvalidArgumentError listing them otherwise.
std::string parse_device_choice(std::string_view name);

/// Runs on the first device of the driver `device`, or on the best device present ("best": the
/// first device that is not the host, else the host). Returns 0 when every check passed, 1 when
/// one failed, 2 when the device is unavailable (the reason is printed). With `json`, each
/// kernel row is one JSON object on a line of its own, then one {"summary": ...} object.
int run_demo(std::ostream& out, const std::string& device = "best", bool json = false);

} // namespace kcache::cli
