// kcache: command-line front end to the kernel library and compiler. See `kcache --help`.
#include "commands.hpp"

#include "core/errors.hpp"

#include <iostream>
#include <vector>

namespace {

void print_usage(std::ostream& os) {
    os << "usage: kcache <command> [options]\n"
          "       kcache <command> --help\n\n"
          "commands:\n";
    for (const auto& c : kcache::cli::commands())
        os << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
    os << "\nExit status: 0 on success, 1 when the operation fails, 2 on bad usage.\n";
}

} // namespace

int main(int argc, char** argv) {
    using namespace kcache::cli;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_usage(std::cerr);
        return kUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        if (args.size() > 1 && args[0] == "help")
            for (const auto& c : commands())
                if (c.name == args[1]) {
                    std::cout << c.help;
                    return kOk;
                }
        print_usage(std::cout);
        return kOk;
    }
    for (const auto& c : commands()) {
        if (c.name != args[0])
            continue;
        std::span<const std::string> rest(args.data() + 1, args.size() - 1);
        for (const auto& a : rest)
            if (a == "--help" || a == "-h") {
                std::cout << c.help;
                return kOk;
            }
        try {
            return c.run(rest, std::cout, std::cerr);
        } catch (const UsageError& e) {
            std::cerr << "kcache " << c.name << ": " << e.message << "\n(see kcache " << c.name
                      << " --help)\n";
            return kUsage;
        } catch (const kcache::Error& e) {
            std::cerr << "kcache " << c.name << ": error: " << e.what() << "\n";
            return kFailed;
        } catch (const std::exception& e) {
            std::cerr << "kcache " << c.name << ": internal error: " << e.what() << "\n";
            return kFailed;
        }
    }
    std::cerr << "kcache: unknown command '" << args[0] << "'\n\n";
    print_usage(std::cerr);
    return kUsage;
}
