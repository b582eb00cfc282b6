#pragma once
// Small filesystem helpers shared by every stage of the pipeline.
#include <filesystem>
#include <string>
#include <string_view>

namespace prestage::util {
namespace fs = std::filesystem;

// Writes `content` to `path` via a temp file in the same directory, fsync and rename.
// Throws std::system_error naming the path on failure.
void write_file_atomic(const fs::path& path, std::string_view content, fs::perms mode = fs::perms::owner_read | fs::perms::owner_write);

// Reads a whole file; throws std::system_error naming the path.
std::string read_file(const fs::path& path);

// Copies a regular file to a new inode (never a link), preserving the executable bits.
void copy_file_fresh(const fs::path& from, const fs::path& to);

// fsyncs a directory so a rename inside it is durable.
void fsync_dir(const fs::path& dir);
}  // namespace prestage::util
