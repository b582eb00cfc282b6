#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace prestage::util {
// Lowercase hex SHA-256 of a byte string.
std::string sha256_hex(std::string_view data);
// Lowercase hex SHA-256 of a file's content; throws std::system_error naming the path.
std::string sha256_file(const std::filesystem::path& path);

// Incremental hasher, for hashing many files into one digest.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex_digest();  // finalises; the hasher cannot be updated afterwards

 private:
  void* ctx_;
};
}  // namespace prestage::util
