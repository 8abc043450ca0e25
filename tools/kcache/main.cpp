// kcache: the command line of the kernel compilation cache. See `kcache --help`.
#include "cli.hpp"

#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return kcache::cli::run(args, std::cout, std::cerr,
                            {::isatty(STDOUT_FILENO) == 1, ::isatty(STDERR_FILENO) == 1});
}
