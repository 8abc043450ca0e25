#include "elf_util.hpp"

#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/TargetParser/Triple.h>

#include <algorithm>

namespace kcache::test {

std::optional<ElfInfo> read_elf(const std::vector<std::uint8_t>& bytes) {
    llvm::MemoryBufferRef ref(
        llvm::StringRef(reinterpret_cast<const char*>(bytes.data()), bytes.size()), "artifact");
    auto obj = llvm::object::ObjectFile::createObjectFile(ref);
    if (!obj) {
        llvm::consumeError(obj.takeError());
        return std::nullopt;
    }
    auto* elf = llvm::dyn_cast<llvm::object::ELF64LEObjectFile>(obj->get());
    if (!elf)
        return std::nullopt;
    const auto& h = elf->getELFFile().getHeader();
    ElfInfo info;
    info.type = h.e_type;
    info.machine = h.e_machine;
    info.flags = h.e_flags;
    info.abi_version = h.e_ident[llvm::ELF::EI_ABIVERSION];
    info.arch = llvm::Triple::getArchTypeName(elf->getArch()).str();
    auto add = [&info](auto symbols) {
        for (const auto& s : symbols) {
            auto name = s.getName();
            if (name)
                info.symbols.push_back(name->str());
            else
                llvm::consumeError(name.takeError());
        }
    };
    add(elf->symbols());
    add(elf->getDynamicSymbolIterators());
    return info;
}

bool has_symbol(const ElfInfo& elf, const std::string& name) {
    return std::find(elf.symbols.begin(), elf.symbols.end(), name) != elf.symbols.end();
}

} // namespace kcache::test
