// kcache: command-line front end to the kernel library and compiler. See `kcache --help`.
#include "commands.hpp"

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return kcache::cli::run(args, std::cout, std::cerr);
}
