#include "rpc/protocol.hpp"

namespace prestage::rpc {
namespace {

nlohmann::json artifacts_json(const std::vector<projects::StagedModule>& artifacts) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : artifacts) out.push_back({{"module", a.module}, {"path", a.path.string()}, {"sha256", a.sha256}});
  return out;
}

nlohmann::json watch_json(const projects::WatchStatus& w) {
  nlohmann::json j = {{"files", w.files}, {"overflows", w.overflows}, {"mode", w.mode}};
  if (!w.error.empty()) j["error"] = w.error;
  return j;
}
}  // namespace

nlohmann::json progress_json(const projects::BuildProgress& p) {
  nlohmann::json j = {{"message", p.message}};
  if (p.has_fraction()) {
    j["done"] = *p.done;
    j["total"] = *p.total;
  }
  return j;
}

nlohmann::json distribution_json(const ProjectInfo& info) {
  return info.distribution.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.distribution);
}

nlohmann::json last_build_json(const projects::BuildRecord& r) {
  return {{"ok", r.ok}, {"generation", r.generation}, {"duration_ms", r.duration_ms}, {"diagnostics", r.diagnostics},
          {"log_tail", r.log_tail}};
}

nlohmann::json project_entry(const projects::Project& p) {
  nlohmann::json j = {{"id", p.info.id},
                      {"root", p.info.root.string()},
                      {"kind", to_string(p.info.kind)},
                      {"modules", p.info.modules},
                      {"distribution", distribution_json(p.info)},
                      {"generation", 0},
                      {"state", "idle"},
                      {"last_build", nullptr},
                      {"watch", watch_json({})},
                      {"pythons", p.pythons}};
  if (p.pipeline) {
    const projects::ProjectStatus s = p.pipeline->status();
    j["generation"] = s.generation;
    j["state"] = to_string(s.state);
    j["last_build"] = s.last_build ? last_build_json(*s.last_build) : nlohmann::json(nullptr);
    j["watch"] = watch_json(s.watch);
    if (s.progress && s.state == projects::State::building) j["progress"] = progress_json(*s.progress);
  }
  if (p.error) j["error"] = *p.error;
  return j;
}

nlohmann::json project_list(const projects::ProjectManager& manager) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, project] : manager.projects()) out.push_back(project_entry(project));
  return out;
}

nlohmann::json generations_json(const std::vector<projects::GenerationSummary>& generations) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& g : generations)
    out.push_back({{"generation", g.generation},
                   {"python", g.python},
                   {"created_at", g.created_at},
                   {"duration_ms", g.duration_ms},
                   {"ok", true},
                   {"artifacts", artifacts_json(g.artifacts)}});
  return out;
}

nlohmann::json build_log_json(const projects::BuildLog& log) {
  return {{"id", log.project},
          {"generation", log.generation},
          {"ok", log.ok ? nlohmann::json(*log.ok) : nlohmann::json(nullptr)},
          {"log", log.log}};
}

std::string spec_text(const projects::ModuleSpec* spec) {
  if (!spec) return "null";
  nlohmann::json result = {{"project", spec->project},
                           {"generation", spec->generation},
                           {"origin", spec->origin.empty() ? nlohmann::json(nullptr) : nlohmann::json(spec->origin.string())},
                           {"submodule_search_locations", spec->search_location
                                                              ? nlohmann::json::array({spec->search_location->string()})
                                                              : nlohmann::json(nullptr)},
                           {"path_entry", spec->path_entry.string()},
                           {"artifacts", artifacts_json(spec->artifacts)}};
  if (spec->pybind11_helper) result["pybind11_helper"] = spec->pybind11_helper->string();
  if (spec->pybind11_helper_pending) result["pybind11_helper_pending"] = true;
  if (spec->dist_info) result["dist_info"] = spec->dist_info->string();
  return result.dump();
}

Error resolve_error(const projects::ResolveOutcome& o) {
  using projects::ResolveError;
  switch (o.error) {
    case ResolveError::build_failed: {
      const auto& r = *o.failed_build;
      return {codes::build_failed, o.message,
              {{"project", o.project}, {"generation", r.generation}, {"diagnostics", r.diagnostics}, {"log_tail", r.log_tail}}};
    }
    case ResolveError::project_closed: return {codes::build_failed, o.message, nullptr};
    case ResolveError::wait_timed_out: {
      nlohmann::json data = {{"project", o.project}};
      if (o.progress) data["progress"] = progress_json(*o.progress);
      return {codes::build_timeout, o.message, std::move(data)};
    }
    case ResolveError::not_built: return {codes::not_built, o.message, {{"project", o.project}}};
    case ResolveError::invalid_python: return {codes::invalid_params, o.message, nullptr};
    case ResolveError::none: break;
  }
  return {codes::internal_error, "spec/resolve: no error to report", nullptr};
}

void NotifyingEvents::build_started(const std::string& project, const std::vector<std::string>& reasons) {
  notifier_.broadcast(kBuildStarted, {{"project", project}, {"reason", reasons}});
}

void NotifyingEvents::build_progress(const std::string& project, const projects::BuildProgress& progress) {
  nlohmann::json params = progress_json(progress);
  params["project"] = project;
  notifier_.broadcast(kBuildProgress, params);
}

void NotifyingEvents::build_finished(const std::string& project, const projects::BuildRecord& r) {
  nlohmann::json params = {{"project", project},
                           {"ok", r.ok},
                           {"generation", r.generation},
                           {"duration_ms", r.duration_ms},
                           {"diagnostics", r.diagnostics}};
  if (!r.ok) params["summary"] = r.summary;
  notifier_.broadcast(kBuildFinished, params);
}

void NotifyingEvents::state_changed(const std::string& project, projects::State state) {
  notifier_.broadcast(kProjectState, {{"project", project}, {"state", to_string(state)}});
}
}  // namespace prestage::rpc
