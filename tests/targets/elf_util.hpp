// Reading artifacts back with llvm::object, for the targets tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kcache::test {

struct ElfInfo {
    unsigned type = 0;    // e_type
    unsigned machine = 0; // e_machine
    std::uint32_t flags = 0;
    unsigned abi_version = 0;         // e_ident[EI_ABIVERSION]
    std::string arch;                 // llvm::Triple arch name of the object
    std::vector<std::string> symbols; // static and dynamic symbol names
};

/// The ELF64 little-endian header and symbols of `bytes`, or nullopt if it is no such ELF.
std::optional<ElfInfo> read_elf(const std::vector<std::uint8_t>& bytes);

bool has_symbol(const ElfInfo& elf, const std::string& name);

} // namespace kcache::test
