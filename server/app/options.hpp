#pragma once
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace prestage::app {
struct Options {
  std::optional<std::string> state_dir;  // --state-dir
  unsigned short port = 0;               // --port, 0 = ephemeral
  std::string log_level = "info";        // --log-level: trace|debug|info|warn|error|critical|off
  int jobs = 2;                          // --jobs: parallel builds (for the build scheduler)
  bool poll_only = false;                // --watch poll: stat-poll every project (filesystems inotify cannot see)
  bool show_help = false;
  bool show_version = false;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv (without argv[0]); throws UsageError naming the bad option or value.
Options parse_options(const std::vector<std::string>& args);
std::string usage_text();
}  // namespace prestage::app
