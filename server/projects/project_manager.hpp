#pragma once
// The protocol-free core: which projects are open, persisted through the Registry.
// Runs on the daemon's single io thread, so it takes no locks.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "projects/detect.hpp"
#include "projects/project_pipeline.hpp"
#include "projects/project.hpp"
#include "projects/registry.hpp"

namespace prestage::projects {

// Throws ProjectError unless `python` is an absolute path to an existing file (it is never run here).
void validate_python(const std::string& python);

// validate_python for hot paths: a pass is remembered for `bound` (at most `capacity` paths), so a path
// removed meanwhile is refused at most that late. Not thread-safe (the io thread's).
class RecentPythonChecks {
 public:
  explicit RecentPythonChecks(std::chrono::milliseconds bound, std::size_t capacity = 64) : bound_(bound), capacity_(capacity) {}
  void validate(const std::string& python);

 private:
  std::chrono::milliseconds bound_;
  std::size_t capacity_;
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> passed_;
};

// One open project; its watch -> build -> stage loop is `pipeline` once pipelines are enabled.
struct Project {
  ProjectInfo info;
  std::vector<std::string> pythons;  // target interpreters (absolute paths), in the order they were added
  // Set when, after a restart, the root has vanished or no longer detects; the project is kept
  // (with its last known id/kind/modules) and reported with this message until closed or reopened.
  std::optional<std::string> error;
  std::shared_ptr<ProjectPipeline> pipeline;  // null until pipelines are enabled, or while `error` is set
  std::uint64_t opened_order = 0;             // later opens (and re-opens) are higher
};

class ProjectManager {
 public:
  // Loads STATE_DIR/projects.json and re-detects every project in it.
  explicit ProjectManager(const fs::path& state_dir);

  // Detects and registers the project at `root`. Idempotent: reopening returns the same project and
  // adds `python` to its interpreters. Throws ProjectError for bad input (missing root, unsupported
  // layout, broken TOML, a python that is not an absolute path to a file).
  const Project& open(const fs::path& root, const std::optional<std::string>& python = std::nullopt);

  // Closes by id / by root (canonicalised when it still exists). Returns the closed id.
  // Throws ProjectError naming the id or root when no such project is open.
  std::string close_by_id(const std::string& id);
  std::string close_by_root(const fs::path& root);

  const Project* find(const std::string& id) const;
  Project* find(const std::string& id);
  const std::map<std::string, Project>& projects() const { return projects_; }

  // Starts a pipeline for every open project (and every one opened later). Without this call the
  // manager only keeps the registry (unit tests).
  void enable_pipelines(PipelineEnv& env);
  // Stops every pipeline (cancelling running builds); used on shutdown.
  void stop_pipelines();

  ProjectPipeline* pipeline(const std::string& id);
  // The pipeline of the open project that provides top-level module `top`, or null. When several
  // do, the one opened (or re-opened) last: the project the user is working on now.
  ProjectPipeline* pipeline_providing(std::string_view top);
  // Pipelines whose root is `path` or contains it.
  std::vector<ProjectPipeline*> pipelines_containing(const fs::path& path);
  // ProjectPipeline::sync on the given projects (every open one when `ids` is empty); returns their
  // pipelines. Throws ProjectError naming an id that is not open.
  std::vector<ProjectPipeline*> sync(const std::vector<std::string>& ids);

  std::size_t count() const { return projects_.size(); }

  // validate_python, remembered for InterpreterCache::kRecheckAfter (spec/resolve).
  void validate_python_recently(const std::string& python) { python_checks_.validate(python); }
  std::size_t builds_running() const;

  // Called after a project is opened (newly) or closed.
  void set_on_changed(std::function<void()> callback) { on_changed_ = std::move(callback); }

 private:
  void persist() const;
  void notify_changed() const;
  void start_pipeline(Project& project);
  static bool merge_modules(Project& project, const std::vector<std::string>& names);  // true when one was new
  void stop_pipeline(Project& project);

  Registry registry_;
  std::map<std::string, Project> projects_;  // by id
  std::function<void()> on_changed_;
  PipelineEnv* pipeline_env_ = nullptr;
  std::uint64_t opens_ = 0;
  RecentPythonChecks python_checks_{builders::InterpreterCache::kRecheckAfter};
};
}  // namespace prestage::projects
