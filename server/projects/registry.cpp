#include "projects/registry.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <system_error>

#include "util/fs.hpp"

namespace prestage::projects {
namespace {
constexpr int kRegistryFormat = 1;

nlohmann::json entry_to_json(const RegistryEntry& e) {
  return {{"id", e.info.id},
          {"root", e.info.root.string()},
          {"kind", to_string(e.info.kind)},
          {"modules", e.info.modules},
          {"pythons", e.pythons}};
}

RegistryEntry entry_from_json(const nlohmann::json& j) {
  RegistryEntry e;
  e.info.id = j.at("id").get<std::string>();
  e.info.root = j.at("root").get<std::string>();
  auto kind = project_kind_from_string(j.at("kind").get<std::string>());
  if (!kind) throw std::runtime_error("unknown project kind " + j.at("kind").dump());
  e.info.kind = *kind;
  e.info.modules = j.at("modules").get<std::vector<std::string>>();
  e.pythons = j.value("pythons", std::vector<std::string>{});
  return e;
}
}  // namespace

Registry::Registry(fs::path file) : file_(std::move(file)) {}

std::vector<RegistryEntry> Registry::load() const {
  std::error_code ec;
  if (!fs::exists(file_, ec)) return {};
  std::vector<RegistryEntry> entries;
  try {
    auto j = nlohmann::json::parse(util::read_file(file_));
    if (j.at("format").get<int>() != kRegistryFormat) throw std::runtime_error("unsupported format " + j.at("format").dump());
    for (const auto& item : j.at("projects")) entries.push_back(entry_from_json(item));
  } catch (const std::exception& e) {
    fs::path aside = file_;
    aside += ".broken";
    fs::rename(file_, aside, ec);
    spdlog::error("project registry {} is unreadable ({}); moved it to {} and starting with no projects", file_.string(),
                  e.what(), aside.string());
    return {};
  }
  return entries;
}

void Registry::save(const std::vector<RegistryEntry>& entries) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) list.push_back(entry_to_json(e));
  nlohmann::json doc = {{"format", kRegistryFormat}, {"projects", std::move(list)}};
  util::write_file_atomic(file_, doc.dump(2) + "\n");
}
}  // namespace prestage::projects
