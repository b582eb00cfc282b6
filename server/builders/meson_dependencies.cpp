#include "builders/meson_dependencies.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace prestage::builders {
namespace {
// The directories of "-I<dir>", "-I <dir>", "-isystem<dir>", "-isystem <dir>" in `args`, in order.
std::vector<fs::path> include_dirs(const nlohmann::json& args) {
  std::vector<fs::path> dirs;
  std::optional<std::string_view> pending;  // a flag whose directory is the next argument
  for (const auto& arg : args) {
    if (!arg.is_string()) continue;
    const std::string& text = arg.get_ref<const std::string&>();
    if (pending) {
      dirs.emplace_back(text);
      pending.reset();
      continue;
    }
    for (std::string_view flag : {"-isystem", "-I"}) {
      if (text.rfind(flag, 0) != 0) continue;
      if (text.size() == flag.size()) pending = flag;
      else dirs.emplace_back(text.substr(flag.size()));
      break;
    }
  }
  return dirs;
}
}  // namespace

fs::path pybind11_include_from_meson(const std::string& intro_dependencies_json, const fs::path& default_include) {
  auto dependencies = nlohmann::json::parse(intro_dependencies_json, nullptr, /*allow_exceptions=*/false);
  if (!dependencies.is_array()) return {};
  for (const auto& dependency : dependencies) {
    if (!dependency.is_object() || dependency.value("name", "") != "pybind11") continue;
    for (const auto& dir : include_dirs(dependency.value("compile_args", nlohmann::json::array()))) {
      std::error_code ec;
      if (fs::is_regular_file(dir / "pybind11" / "pybind11.h", ec)) return dir;
    }
    return default_include;
  }
  return {};
}
}  // namespace prestage::builders
