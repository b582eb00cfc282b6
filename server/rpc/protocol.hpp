#pragma once
// The wire format of the core's typed values (docs/protocol.md, schemas/): every to_json of
// projects/ lives here, with the notification names and the ResolveError -> JSON-RPC code map.
#include <nlohmann/json.hpp>
#include <string>

#include "projects/project_manager.hpp"
#include "projects/project_state.hpp"
#include "rpc/error.hpp"
#include "rpc/notifier.hpp"

namespace prestage::rpc {

// Notifications the core's events become.
inline constexpr const char* kBuildStarted = "build/started";
inline constexpr const char* kBuildProgress = "build/progress";
inline constexpr const char* kBuildFinished = "build/finished";
inline constexpr const char* kProjectState = "project/state";

// A project/list entry: {id, root, kind, modules, generation, state, last_build, watch, pythons, error?}.
nlohmann::json project_entry(const projects::Project& project);
// project/open and project/list's `distribution`: the name, or null when the project has none.
nlohmann::json distribution_json(const ProjectInfo& info);
nlohmann::json project_list(const projects::ProjectManager& manager);
// A last_build value: {ok, generation, duration_ms, diagnostics, log_tail}.
nlohmann::json last_build_json(const projects::BuildRecord& record);
nlohmann::json generations_json(const std::vector<projects::GenerationSummary>& generations);
nlohmann::json build_log_json(const projects::BuildLog& log);

// spec/resolve's result text: {project, generation, origin, submodule_search_locations, path_entry,
// artifacts, pybind11_helper?}, or "null"; origin is null for a namespace package (a directory without
// __init__.py). The core keeps it ready-made (projects::SpecSerializer).
std::string spec_text(const projects::ModuleSpec* spec);

// A failed spec/resolve as a JSON-RPC error, with its data (project, and a failed build's record).
Error resolve_error(const projects::ResolveOutcome& outcome);

// The core's events as notifications to every connected WebSocket client.
class NotifyingEvents final : public projects::ProjectEvents {
 public:
  explicit NotifyingEvents(Notifier& notifier) : notifier_(notifier) {}
  void build_started(const std::string& project, const std::vector<std::string>& reasons) override;
  void build_progress(const std::string& project, const projects::BuildProgress& progress) override;
  void build_finished(const std::string& project, const projects::BuildRecord& record) override;
  void state_changed(const std::string& project, projects::State state) override;

 private:
  Notifier& notifier_;
};
}  // namespace prestage::rpc
