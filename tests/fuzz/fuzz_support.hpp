#pragma once
// Shared pieces of the fuzz targets: a temp dir that lives for the whole run, and the RPC stack
// exactly as the daemon wires it (minus the network and the build pipelines).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "projects/project_manager.hpp"
#include "rpc/dispatcher.hpp"
#include "rpc/methods/methods.hpp"
#include "rpc/notifier.hpp"
#include "rpc/services.hpp"

namespace prestage::fuzz {
namespace fs = std::filesystem;

// mkdtemp under $TMPDIR (or /tmp); removed at exit.
fs::path make_temp_dir(const char* tag);

// Dispatcher with every registered method against a real ProjectManager on a private state dir.
struct RpcStack {
  fs::path state_dir;
  std::unique_ptr<projects::ProjectManager> manager;
  rpc::Notifier notifier;
  rpc::Dispatcher dispatcher;
  std::unique_ptr<rpc::Services> services;

  RpcStack();
  // Runs `body` through Dispatcher::handle; checks that `done` ran exactly once and that the reply
  // is valid JSON (aborts otherwise, which libFuzzer reports as a crash).
  void dispatch(std::string_view body);
  // Forgets every opened project so the state does not grow without bound across inputs.
  void reset_if_large();
};
}  // namespace prestage::fuzz
