#include <catch2/catch.hpp>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "util/fs.hpp"
#include "util/json_depth.hpp"
#include "util/sha256.hpp"

namespace fs = std::filesystem;
using namespace prestage::util;

TEST_CASE("sha256 matches the known digest of 'abc'") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("json nesting scan counts brackets outside strings only") {
  CHECK_FALSE(json_nesting_exceeds(R"({"a":[1,2,{"b":3}]})", 3));
  CHECK(json_nesting_exceeds(R"({"a":[1,2,{"b":3}]})", 2));
  CHECK_FALSE(json_nesting_exceeds(R"({"a":"[[[[[[[[\"[[["})", 1));
  std::string deep(100000, '[');
  CHECK(json_nesting_exceeds(deep, 64));
  std::string ok = std::string(64, '[') + std::string(64, ']');
  CHECK_FALSE(json_nesting_exceeds(ok, 64));
}

TEST_CASE("atomic write leaves the final file with the requested mode and no temp files") {
  fs::path dir = fs::temp_directory_path() / ("prestage-util-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path f = dir / "x.json";
  write_file_atomic(f, "{\"a\":1}");
  write_file_atomic(f, "{\"a\":2}");
  CHECK(read_file(f) == "{\"a\":2}");
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  int entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
  fs::remove_all(dir);
}

TEST_CASE("copy_file_fresh makes a new inode") {
  fs::path dir = fs::temp_directory_path() / ("prestage-util-copy-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_file_atomic(dir / "a", "data");
  copy_file_fresh(dir / "a", dir / "b");
  struct stat a {}, b {};
  ::stat((dir / "a").c_str(), &a);
  ::stat((dir / "b").c_str(), &b);
  CHECK(a.st_ino != b.st_ino);
  CHECK(read_file(dir / "b") == "data");
  CHECK_THROWS_WITH(read_file(dir / "missing"), Catch::Contains("missing"));
  fs::remove_all(dir);
}
