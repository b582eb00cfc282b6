#include "fuzz_support.hpp"

#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace prestage::fuzz {
namespace {
std::vector<fs::path>& temp_dirs() {
  static std::vector<fs::path> dirs;
  return dirs;
}
void remove_temp_dirs() {
  std::error_code ec;
  for (const auto& dir : temp_dirs()) fs::remove_all(dir, ec);
}
}  // namespace

fs::path make_temp_dir(const char* tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/prestage-fuzz-" + tag + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!::mkdtemp(buffer.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  if (temp_dirs().empty()) std::atexit(remove_temp_dirs);
  temp_dirs().emplace_back(buffer.data());
  return temp_dirs().back();
}

RpcStack::RpcStack() : state_dir(make_temp_dir("state")) {
  spdlog::set_level(spdlog::level::off);
  manager = std::make_unique<projects::ProjectManager>(state_dir);
  services = std::make_unique<rpc::Services>(rpc::Services{
      *manager, notifier, rpc::ServerIdentity{"0.1.0", 1, 1, state_dir, "2026-01-01T00:00:00Z"}, [] {}});
  rpc::register_all(dispatcher, *services);
}

void RpcStack::dispatch(std::string_view body) {
  int calls = 0;
  std::optional<std::string> reply;
  dispatcher.handle(body, rpc::CallContext{}, [&](std::optional<std::string> text) {
    ++calls;
    reply = std::move(text);
  });
  if (calls != 1) {
    std::fprintf(stderr, "Dispatcher::handle called done %d times\n", calls);
    std::abort();
  }
  if (reply && !nlohmann::json::accept(*reply)) {
    std::fprintf(stderr, "reply is not valid JSON: %s\n", reply->c_str());
    std::abort();
  }
}

void RpcStack::reset_if_large() {
  if (manager->count() < 16) return;
  std::vector<std::string> ids;
  for (const auto& [id, project] : manager->projects()) ids.push_back(id);
  for (const auto& id : ids) manager->close_by_id(id);
}
}  // namespace prestage::fuzz
