#pragma once
// The typed values the project core reports: a project's state, its newest build, its status, and
// what spec/resolve answers. No JSON here: rpc/protocol.cpp turns them into the wire format.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builders/build_progress.hpp"
#include "builders/diagnostic.hpp"

namespace prestage::projects {
namespace fs = std::filesystem;
using builders::BuildProgress;

// What project/state reports: idle, queued (settling, scanning, waiting for a build slot) or building.
enum class State { idle, queued, building };

inline std::string_view to_string(State s) {
  switch (s) {
    case State::idle: return "idle";
    case State::queued: return "queued";
    case State::building: return "building";
  }
  return "idle";
}

// The newest build for one interpreter.
struct BuildRecord {
  bool ok = false;
  std::uint64_t generation = 0;  // published generation, or the last good one when this failed
  std::int64_t duration_ms = 0;
  std::vector<Diagnostic> diagnostics;
  std::string log_tail;
  std::string summary;      // one line; set when the build failed
  std::string finished_at;  // ISO 8601 UTC
};

struct WatchStatus {
  std::size_t files = 0;
  std::uint64_t overflows = 0;
  std::string mode = "stopped";
  std::string error;  // empty: none
};

struct ProjectStatus {
  std::uint64_t generation = 0;
  State state = State::idle;
  // The newest build; after a restart, the newest staged generation as a good build with an empty log.
  std::optional<BuildRecord> last_build;
  WatchStatus watch;
  std::optional<BuildProgress> progress;  // the running build's newest report
};

// The newest build's output for build/log.
struct BuildLog {
  std::string project;
  std::uint64_t generation = 0;
  std::optional<bool> ok;  // nullopt: no build yet since the daemon started
  std::string log;
};

// One staged extension of a generation.
struct StagedModule {
  std::string module;
  fs::path path;
  std::string sha256;
};

// A published generation, for generation/list.
struct GenerationSummary {
  std::uint64_t generation = 0;
  std::string python, created_at;
  std::int64_t duration_ms = 0;
  std::vector<StagedModule> artifacts;
};

// A module the project serves from its newest generation, for spec/resolve.
struct ModuleSpec {
  std::string project;
  std::uint64_t generation = 0;
  fs::path origin;
  std::optional<fs::path> search_location;  // set for a package
  fs::path path_entry;                      // the generation dir
  std::vector<StagedModule> artifacts;
  std::optional<fs::path> pybind11_helper;
  bool pybind11_helper_pending = false;  // the project uses pybind11 and its helper is still compiling
  std::optional<fs::path> dist_info;  // the generation's <name>-<version>.dist-info, for importlib.metadata
};

// Why spec/resolve has no spec to give.
enum class ResolveError { none, build_failed, wait_timed_out, not_built, invalid_python, project_closed };

// spec/resolve's answer. On success `text` is the spec serialized once (by the serializer rpc/
// supplies, "null" when the project does not provide the module) and reused while it is current.
struct ResolveOutcome {
  std::shared_ptr<const std::string> text;
  ResolveError error = ResolveError::none;
  std::string message;
  std::string project;                    // set with an error
  std::optional<BuildRecord> failed_build;  // set with build_failed
  std::optional<BuildProgress> progress;    // with wait_timed_out: how far the build it waits for is
};

// Serializes a spec (null: the project does not provide the module) into the text spec/resolve sends.
using SpecSerializer = std::string (*)(const ModuleSpec* spec);

// How the core reports what happens, on the io thread. rpc/ turns these into notifications.
class ProjectEvents {
 public:
  virtual ~ProjectEvents() = default;
  virtual void build_started(const std::string& project, const std::vector<std::string>& reasons) = 0;
  virtual void build_progress(const std::string& project, const BuildProgress& progress) = 0;
  virtual void build_finished(const std::string& project, const BuildRecord& record) = 0;
  virtual void state_changed(const std::string& project, State state) = 0;
};
}  // namespace prestage::projects
