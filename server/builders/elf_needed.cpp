#include "builders/elf_needed.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>

namespace prestage::builders {
namespace {

template <class Ehdr, class Phdr, class Dyn>
std::optional<std::vector<std::string>> read_needed(std::ifstream& in) {
  auto read_at = [&in](std::uint64_t offset, void* out, std::size_t size) {
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(static_cast<char*>(out), static_cast<std::streamsize>(size));
    return static_cast<std::size_t>(in.gcount()) == size;
  };
  Ehdr eh{};
  if (!read_at(0, &eh, sizeof eh) || eh.e_phentsize != sizeof(Phdr) || eh.e_phnum == 0 || eh.e_phnum > 4096) return std::nullopt;
  std::vector<Phdr> phdrs(eh.e_phnum);
  if (!read_at(eh.e_phoff, phdrs.data(), sizeof(Phdr) * phdrs.size())) return std::nullopt;
  const Phdr* dynamic = nullptr;
  for (const auto& ph : phdrs)
    if (ph.p_type == PT_DYNAMIC) dynamic = &ph;
  if (!dynamic || dynamic->p_filesz > (1u << 20)) return std::nullopt;
  std::vector<Dyn> dyns(dynamic->p_filesz / sizeof(Dyn));
  if (!read_at(dynamic->p_offset, dyns.data(), sizeof(Dyn) * dyns.size())) return std::nullopt;
  std::uint64_t strtab_vaddr = 0, strsz = 0;
  std::vector<std::uint64_t> needed;
  for (const auto& d : dyns) {
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_STRTAB) strtab_vaddr = d.d_un.d_ptr;
    if (d.d_tag == DT_STRSZ) strsz = d.d_un.d_val;
    if (d.d_tag == DT_NEEDED) needed.push_back(d.d_un.d_val);
  }
  // The string table's virtual address -> its file offset, through the PT_LOAD that holds it.
  std::optional<std::uint64_t> strtab_offset;
  for (const auto& ph : phdrs)
    if (ph.p_type == PT_LOAD && strtab_vaddr >= ph.p_vaddr && strtab_vaddr < ph.p_vaddr + ph.p_filesz)
      strtab_offset = ph.p_offset + (strtab_vaddr - ph.p_vaddr);
  if (!strtab_offset || strsz == 0 || strsz > (16u << 20)) return std::nullopt;
  std::string strtab(strsz, '\0');
  if (!read_at(*strtab_offset, strtab.data(), strsz)) return std::nullopt;
  std::vector<std::string> out;
  for (auto offset : needed)
    if (offset < strtab.size()) out.emplace_back(strtab.c_str() + offset);
  return out;
}
}  // namespace

std::optional<std::vector<std::string>> elf_needed_libraries(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  unsigned char ident[EI_NIDENT] = {};
  in.read(reinterpret_cast<char*>(ident), EI_NIDENT);
  if (in.gcount() != EI_NIDENT || std::memcmp(ident, ELFMAG, SELFMAG) != 0 || ident[EI_DATA] != ELFDATA2LSB) return std::nullopt;
  if (ident[EI_CLASS] == ELFCLASS64) return read_needed<Elf64_Ehdr, Elf64_Phdr, Elf64_Dyn>(in);
  if (ident[EI_CLASS] == ELFCLASS32) return read_needed<Elf32_Ehdr, Elf32_Phdr, Elf32_Dyn>(in);
  return std::nullopt;
}
}  // namespace prestage::builders
