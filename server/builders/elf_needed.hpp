#pragma once
// The DT_NEEDED entries of an ELF shared object (which libraries it links), read from the file.
// Blocking file read (a few KB of headers): the cargo backend calls it on the io thread right after a
// build, where the .so was just written and sits in the page cache.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace prestage::builders {

// nullopt when the file is not a 64- or 32-bit little-endian ELF with a dynamic section.
std::optional<std::vector<std::string>> elf_needed_libraries(const std::filesystem::path& file);
}  // namespace prestage::builders
