#pragma once
// What RPC methods may reach: the project core, the notification fan-out and the server identity.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "projects/project_manager.hpp"
#include "rpc/notifier.hpp"

namespace prestage::rpc {
struct ServerIdentity {
  std::string version;
  int pid = 0;
  unsigned short port = 0;
  std::filesystem::path state_dir;
  std::string started_at;  // ISO 8601 UTC
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  std::int64_t uptime_s() const {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  }
};

struct Services {
  projects::ProjectManager& projects;
  Notifier& notifier;
  ServerIdentity identity;
  std::function<void()> request_shutdown;  // posts a clean shutdown; returns at once
  int build_jobs = 2;                      // --jobs: parallel builds for the build scheduler

  // {projects, builds_running, clients}: shared by server/info and the authorised /health.
  nlohmann::json counts() const {
    return {{"projects", projects.count()}, {"builds_running", projects.builds_running()}, {"clients", notifier.connected()}};
  }
};
}  // namespace prestage::rpc
