#pragma once
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace prestage::app {
namespace fs = std::filesystem;

class StateDirError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --state-dir, else $PRESTAGE_STATE_DIR, else $XDG_RUNTIME_DIR/prestage, else ~/.cache/prestage.
fs::path resolve_state_dir(const std::optional<std::string>& from_option);

// Creates the dir with mode 0700 if missing; refuses (StateDirError naming the problem) when it is
// not a directory, belongs to another user, or is group- or world-writable. Returns the absolute path.
fs::path prepare_state_dir(const fs::path& dir);
}  // namespace prestage::app
