// `kcache run [--device DEVICE|best] [--json]`: the main job (demo.hpp).
#include "command.hpp"
#include "core/errors.hpp"
#include "demo.hpp"
#include "runtime/device_registry.hpp"
#include "store/store.hpp"
#include "store/tiers/disk/persistent_stats.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace kcache::cli {

void add_run_command(CLI::App& app, Session& session) {
    struct Options {
        std::string device = "best";
        bool json = false;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "run", "run the kernel library on a device, checked, with a redefinition (the demo)");
    cmd->footer(
        "Runs the kernel library on real data on one device: every kernel checked against a "
        "plain C++ reference, the cache's hits, and a redefinition that evicts a loaded module "
        "and loads the new code, with timings. Each row says where its code came from "
        "(compiled, memory, disk, redis; \"no IR\" when no IR was built). Exit status 1 when a "
        "check fails, 2 when the device is unavailable (the reason is printed).");
    cmd->add_option("--device", o->device,
                    "best (default: the first device that is not the host, else the host) or a "
                    "registered device driver: " +
                        runtime::DeviceRegistry::names());
    cmd->add_flag("--json", o->json,
                  "one JSON object per kernel row, then {\"summary\": ...}, one per line");
    on_parsed(*cmd, session, "run", [o, &session] {
        std::string device;
        try {
            device = parse_device_choice(o->device);
        } catch (const InvalidArgumentError& e) {
            throw UsageError(std::string("--device: ") + e.what());
        }
        store::StatsRecorder stats(store::process_store());
        return run_demo(session.out, device, o->json);
    });
}

} // namespace kcache::cli
