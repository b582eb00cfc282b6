// meson-python's .<name>.mesonpy.libs (see meson_internal_libs.hpp).
#include "builders/meson_internal_libs.hpp"

#include <map>

#include "builders/elf_needed.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace prestage::builders {
namespace {

// libx.so -> libx-<tag>.so, libx.so.1.2 -> libx-<tag>.so.1.2, libx -> libx-<tag>.
std::string tagged_name(const std::string& name, const std::string& tag) {
  auto so = name.find(".so");
  if (so == std::string::npos) return name + "-" + tag;
  return name.substr(0, so) + "-" + tag + name.substr(so);
}

bool below(const std::string& relpath, const std::string& dir) { return relpath.rfind(dir + "/", 0) == 0; }

// The staged library a DT_NEEDED entry names: its file name, or for a versioned library
// (version: '1.2.3' -> libx.so.1.2.3) its soname libx.so.1, a prefix of the file name.
const std::string* staged_name_for(const std::map<std::string, std::string>& renamed, const std::string& needed) {
  for (const auto& [file, staged] : renamed)
    if (file == needed || file.rfind(needed + ".", 0) == 0) return &staged;
  return nullptr;
}
}  // namespace

std::string mesonpy_libs_dir(const std::string& project_name) {
  std::string name = project_name;
  for (char& c : name)
    if (c == '-') c = '_';
  return "." + name + ".mesonpy.libs";
}

std::vector<ElfPatch> plan_internal_libs(std::vector<StagedFile>& files, const std::string& libs_dir, const fs::path& copies_dir) {
  std::map<std::string, std::string> renamed;  // file name meson gave a library -> its staged name
  for (const auto& f : files) {
    if (!below(f.relpath, libs_dir)) continue;
    std::string name = fs::path(f.relpath).filename().string();
    renamed[name] = tagged_name(name, util::sha256_hex(util::read_file(f.source)).substr(0, 8));
  }
  std::vector<ElfPatch> patches;
  if (renamed.empty()) return patches;
  for (auto& f : files) {
    auto needed = elf_needed_libraries(f.source);
    if (!needed) continue;  // not ELF (a .py, data)
    std::vector<std::vector<std::string>> calls;
    if (below(f.relpath, libs_dir)) {
      std::string name = renamed.at(fs::path(f.relpath).filename().string());
      f.relpath = (fs::path(f.relpath).parent_path() / name).generic_string();
      calls.push_back({"--set-soname", name});
    }
    bool links_internal = false;
    for (const auto& lib : *needed) {
      const std::string* staged = staged_name_for(renamed, lib);
      if (!staged) continue;
      calls.push_back({"--replace-needed", lib, *staged});
      links_internal = true;
    }
    if (links_internal) {
      fs::path parent = fs::path(f.relpath).parent_path();
      std::string relative = fs::path(libs_dir).lexically_relative(parent.empty() ? fs::path(".") : parent).generic_string();
      calls.push_back({"--add-rpath", "$ORIGIN/" + relative});
    }
    if (calls.empty()) continue;
    fs::path patched = copies_dir / f.relpath;
    patches.push_back(ElfPatch{f.source, patched, std::move(calls)});
    f.source = patched;
  }
  return patches;
}
}  // namespace prestage::builders
