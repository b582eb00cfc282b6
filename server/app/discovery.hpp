#pragma once
// Single-instance lock and the server.json discovery file.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace prestage::app {
namespace fs = std::filesystem;

// Holds an exclusive flock on STATE_DIR/server.lock for the process lifetime.
class InstanceLock {
 public:
  // Returns nullopt and fills `running` with a message naming the running instance's pid and port
  // when another process holds the lock. Throws std::system_error for other failures.
  static std::optional<InstanceLock> acquire(const fs::path& state_dir, std::string& running);
  InstanceLock(InstanceLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&&) = delete;
  ~InstanceLock();

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// 32 bytes from getrandom(), as 64 lowercase hex chars.
std::string make_token();

struct DiscoveryInfo {
  int pid = 0;
  unsigned short port = 0;
  std::string token;
  std::string version;
  std::string started_at;
};
nlohmann::json to_json(const DiscoveryInfo& info);

fs::path server_json_path(const fs::path& state_dir);
// Atomic (temp + rename), mode 0600.
void write_server_json(const fs::path& state_dir, const DiscoveryInfo& info);
void remove_server_json(const fs::path& state_dir);
}  // namespace prestage::app
