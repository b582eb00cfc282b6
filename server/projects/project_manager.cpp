#include "projects/project_manager.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

namespace prestage::projects {
void validate_python(const std::string& python) {
  if (python.empty()) throw ProjectError("python must not be empty");
  fs::path p(python);
  if (!p.is_absolute()) throw ProjectError("python \"" + python + "\" must be an absolute path to an interpreter");
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) throw ProjectError("python \"" + python + "\" is not an existing file");
  if (::access(p.c_str(), X_OK) != 0) throw ProjectError("python \"" + python + "\" is not executable");
}

void RecentPythonChecks::validate(const std::string& python) {
  const auto now = std::chrono::steady_clock::now();
  if (auto it = passed_.find(python); it != passed_.end() && now - it->second < bound_) return;
  validate_python(python);
  if (passed_.size() >= capacity_) passed_.clear();
  passed_.insert_or_assign(python, now);
}

namespace {

fs::path normalized_root(const fs::path& root) {
  std::error_code ec;
  fs::path canonical = fs::canonical(root, ec);
  if (!ec) return canonical;
  return fs::absolute(root, ec).lexically_normal();
}
}  // namespace

ProjectManager::ProjectManager(const fs::path& state_dir) : registry_(state_dir / "projects.json") {
  for (auto& entry : registry_.load()) {
    Project project;
    project.pythons = std::move(entry.pythons);
    try {
      project.info = detect_project(entry.info.root);
    } catch (const ProjectError& e) {
      project.info = std::move(entry.info);
      project.error = e.what();
      spdlog::warn("keeping project {} from the registry with an error: {}", project.info.id, e.what());
    }
    project.opened_order = ++opens_;  // the registry keeps the order projects were opened in
    std::string id = project.info.id;
    projects_.insert_or_assign(id, std::move(project));
  }
  spdlog::info("loaded {} project(s) from {}", projects_.size(), registry_.file().string());
}

const Project& ProjectManager::open(const fs::path& root, const std::optional<std::string>& python) {
  if (python) validate_python(*python);
  ProjectInfo info = detect_project(root);
  auto [it, inserted] = projects_.try_emplace(info.id);
  Project& project = it->second;
  bool changed = inserted || project.error.has_value();
  project.opened_order = ++opens_;
  project.info = std::move(info);
  project.error.reset();
  if (python && std::find(project.pythons.begin(), project.pythons.end(), *python) == project.pythons.end()) {
    project.pythons.push_back(*python);
    changed = true;
  }
  if (changed) persist();
  if (!project.pipeline) start_pipeline(project);
  else {
    merge_modules(project, project.pipeline->staged_modules());  // detection ran again
    if (python) project.pipeline->add_python(*python);
  }
  if (inserted) {
    spdlog::info("opened {} project {} at {}", to_string(project.info.kind), project.info.id, project.info.root.string());
    notify_changed();
  }
  return project;
}

std::string ProjectManager::close_by_id(const std::string& id) {
  auto it = projects_.find(id);
  if (it == projects_.end()) throw ProjectError("no open project with id \"" + id + "\"");
  stop_pipeline(it->second);
  projects_.erase(it);
  persist();
  spdlog::info("closed project {}", id);
  notify_changed();
  return id;
}

std::string ProjectManager::close_by_root(const fs::path& root) {
  const fs::path wanted = normalized_root(root);
  for (const auto& [id, project] : projects_) {
    if (project.info.root == wanted || project.info.root == root) return close_by_id(std::string(id));
  }
  throw ProjectError("no open project with root \"" + root.string() + "\"");
}

const Project* ProjectManager::find(const std::string& id) const {
  auto it = projects_.find(id);
  return it == projects_.end() ? nullptr : &it->second;
}

Project* ProjectManager::find(const std::string& id) {
  auto it = projects_.find(id);
  return it == projects_.end() ? nullptr : &it->second;
}

std::size_t ProjectManager::builds_running() const {
  return static_cast<std::size_t>(std::count_if(projects_.begin(), projects_.end(), [](const auto& kv) {
    return kv.second.pipeline && kv.second.pipeline->state() == State::building;
  }));
}

void ProjectManager::enable_pipelines(PipelineEnv& env) {
  pipeline_env_ = &env;
  for (auto& [id, project] : projects_) start_pipeline(project);
}

void ProjectManager::stop_pipelines() {
  for (auto& [id, project] : projects_) stop_pipeline(project);
  pipeline_env_ = nullptr;
}

void ProjectManager::start_pipeline(Project& project) {
  if (!pipeline_env_ || project.pipeline || project.error) return;
  project.pipeline = std::make_shared<ProjectPipeline>(*pipeline_env_, builders::backend_for(project.info.kind), project.info, project.pythons);
  project.pipeline->start();
  // cmake: names its generations add (a module CMake installs next to the package) are the project's too.
  merge_modules(project, project.pipeline->staged_modules());
  project.pipeline->set_on_modules([this, id = project.info.id](const std::vector<std::string>& names) {
    auto it = projects_.find(id);
    if (it != projects_.end() && merge_modules(it->second, names)) notify_changed();
  });
}

bool ProjectManager::merge_modules(Project& project, const std::vector<std::string>& names) {
  bool added = false;
  for (const auto& name : names)
    if (std::find(project.info.modules.begin(), project.info.modules.end(), name) == project.info.modules.end()) {
      project.info.modules.push_back(name);
      added = true;
    }
  return added;
}

void ProjectManager::stop_pipeline(Project& project) {
  if (!project.pipeline) return;
  project.pipeline->stop();
  project.pipeline.reset();
}

ProjectPipeline* ProjectManager::pipeline(const std::string& id) {
  auto it = projects_.find(id);
  return it == projects_.end() ? nullptr : it->second.pipeline.get();
}

ProjectPipeline* ProjectManager::pipeline_providing(std::string_view top) {
  Project* newest = nullptr;
  for (auto& [id, project] : projects_) {
    const auto& modules = project.info.modules;
    if (project.pipeline && std::find(modules.begin(), modules.end(), top) != modules.end() &&
        (!newest || project.opened_order > newest->opened_order))
      newest = &project;
  }
  return newest ? newest->pipeline.get() : nullptr;
}

std::vector<ProjectPipeline*> ProjectManager::pipelines_containing(const fs::path& path) {
  std::error_code ec;
  fs::path wanted = fs::weakly_canonical(path, ec);
  if (ec) wanted = path.lexically_normal();
  std::vector<ProjectPipeline*> out;
  for (auto& [id, project] : projects_) {
    if (!project.pipeline) continue;
    const fs::path& root = project.info.root;
    auto rel = wanted.lexically_relative(root);
    bool inside = !rel.empty() && *rel.begin() != "..";
    if (inside) out.push_back(project.pipeline.get());
  }
  return out;
}

std::vector<ProjectPipeline*> ProjectManager::sync(const std::vector<std::string>& ids) {
  std::vector<ProjectPipeline*> out;
  if (ids.empty()) {
    for (auto& [id, project] : projects_)
      if (project.pipeline) out.push_back(project.pipeline.get());
  } else {
    for (const auto& id : ids) {
      if (!find(id)) throw ProjectError("no open project with id \"" + id + "\"");
      if (auto* p = pipeline(id)) out.push_back(p);
    }
  }
  for (auto* p : out) p->sync();
  return out;
}

void ProjectManager::persist() const {
  std::vector<RegistryEntry> entries;
  entries.reserve(projects_.size());
  for (const auto& [id, project] : projects_) entries.push_back({project.info, project.pythons});
  registry_.save(entries);
}

void ProjectManager::notify_changed() const {
  if (on_changed_) on_changed_();
}
}  // namespace prestage::projects
