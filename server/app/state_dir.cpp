#include "app/state_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cstdio>

namespace prestage::app {
namespace {
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}
}  // namespace

fs::path resolve_state_dir(const std::optional<std::string>& from_option) {
  if (from_option) return *from_option;
  if (auto v = env("PRESTAGE_STATE_DIR")) return *v;
  if (auto v = env("XDG_RUNTIME_DIR")) return fs::path(*v) / "prestage";
  if (auto home = env("HOME")) return fs::path(*home) / ".cache" / "prestage";
  throw StateDirError("cannot choose a state dir: pass --state-dir or set PRESTAGE_STATE_DIR (HOME is not set)");
}

fs::path prepare_state_dir(const fs::path& dir_in) {
  std::error_code ec;
  const fs::path dir = fs::absolute(dir_in, ec).lexically_normal();
  if (ec) throw StateDirError("state dir " + dir_in.string() + ": " + ec.message());
  if (!fs::exists(dir, ec)) {
    if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw StateDirError("cannot create state dir " + dir.string() + ": " + std::strerror(errno));
    ::chmod(dir.c_str(), 0700);  // independent of the umask
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw StateDirError("cannot stat state dir " + dir.string() + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw StateDirError("state dir " + dir.string() + " is not a directory");
  if (st.st_uid != ::geteuid())
    throw StateDirError("state dir " + dir.string() + " belongs to uid " + std::to_string(st.st_uid) + ", not to you (uid " +
                        std::to_string(::geteuid()) + "); refusing to use it");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    throw StateDirError("state dir " + dir.string() + " is group- or world-writable (mode " + octal_mode(st.st_mode) +
                        "); refusing to use it. Fix it with: chmod 700 " + dir.string());
  return dir;
}
}  // namespace prestage::app
