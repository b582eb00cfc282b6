#include "app/discovery.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "util/fs.hpp"

namespace prestage::app {
std::optional<InstanceLock> InstanceLock::acquire(const fs::path& state_dir, std::string& running) {
  const fs::path lock_path = state_dir / "server.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + lock_path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err != EWOULDBLOCK) throw std::system_error(err, std::generic_category(), "cannot lock " + lock_path.string());
    std::string pid = "unknown", port = "unknown (still starting)";
    try {
      auto text = util::read_file(lock_path);
      if (!text.empty()) pid = text.substr(0, text.find('\n'));
      auto info = nlohmann::json::parse(util::read_file(server_json_path(state_dir)));
      pid = std::to_string(info.at("pid").get<int>());
      port = std::to_string(info.at("port").get<int>());
    } catch (const std::exception&) {
    }
    running = "another prestaged is already running for state dir " + state_dir.string() + " (pid " + pid + ", port " + port + ")";
    return std::nullopt;
  }
  // Record our pid in the lock file so a second instance can name us even before server.json exists.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] auto n = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return InstanceLock(fd);
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string make_token() {
  unsigned char bytes[32];
  std::size_t filled = 0;
  while (filled < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom failed");
    }
    filled += static_cast<std::size_t>(n);
  }
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex.push_back(digits[b >> 4]);
    hex.push_back(digits[b & 15]);
  }
  return hex;
}

nlohmann::json to_json(const DiscoveryInfo& info) {
  return {{"pid", info.pid}, {"port", info.port}, {"token", info.token}, {"version", info.version}, {"started_at", info.started_at}};
}

fs::path server_json_path(const fs::path& state_dir) { return state_dir / "server.json"; }

void write_server_json(const fs::path& state_dir, const DiscoveryInfo& info) {
  util::write_file_atomic(server_json_path(state_dir), to_json(info).dump() + "\n", fs::perms::owner_read | fs::perms::owner_write);
}

void remove_server_json(const fs::path& state_dir) {
  std::error_code ec;
  fs::remove(server_json_path(state_dir), ec);
}
}  // namespace prestage::app
