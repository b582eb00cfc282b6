#pragma once
// Small filesystem helpers shared by every stage of the pipeline.
#include <filesystem>
#include <string>
#include <string_view>

namespace prestage::util {
namespace fs = std::filesystem;

// Whether write_file_atomic makes the new content durable (fsync file and directory) or only atomic.
enum class Sync { durable, atomic_only };

// Writes `content` to `path` via a temp file in the same directory and a rename.
// Throws std::system_error naming the path on failure; the temp file is removed.
void write_file_atomic(const fs::path& path, std::string_view content, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write,
                       Sync sync = Sync::durable);

// Writes all of `data` to `fd`, retrying short writes and EINTR; throws std::system_error naming `path`.
void write_all(int fd, std::string_view data, const fs::path& path);

// Reads a whole file; throws std::system_error naming the path.
std::string read_file(const fs::path& path);

// Copies a regular file to a new inode (never a link), preserving the executable bits.
void copy_file_fresh(const fs::path& from, const fs::path& to);

// fsyncs a directory so a rename inside it is durable.
void fsync_dir(const fs::path& dir);
}  // namespace prestage::util
