#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "temp_dir.hpp"
#include "util/sha256.hpp"
#include "watch/ignore.hpp"
#include "watch/source_tree.hpp"

namespace fs = std::filesystem;
using prestage::test::save_by_rename;
using prestage::test::TempDir;
using prestage::test::write_text;
using prestage::watch::SourceTree;

namespace {
bool contains(const std::vector<fs::path>& v, const fs::path& p) { return std::find(v.begin(), v.end(), p) != v.end(); }

void set_mtime(const fs::path& p, const timespec& t) {
  timespec times[2] = {t, t};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

timespec mtime_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mtim;
}

// Rewrites a file in place (same inode) without truncating through a new file.
void overwrite_in_place(const fs::path& p, const std::string& content) {
  int fd = ::open(p.c_str(), O_WRONLY | O_TRUNC);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::close(fd);
}
}  // namespace

TEST_CASE("ignore rules cover build dirs, VCS, caches and editor temp files") {
  using namespace prestage::watch;
  for (auto d : {"target", ".git", "__pycache__", "build", "build-release", "node_modules", ".venv", "dist", "foo.egg-info", ".pytest_cache"})
    CHECK(is_ignored_dir(d));
  for (auto d : {"src", "python", "pkg", "builder", "targets", ".cargo"}) CHECK_FALSE(is_ignored_dir(d));
  for (auto f : {".a.py.swp", "4913", "a.py~", ".#a.py", "#a.py#", "a.py___jb_tmp___", "x.pyc", "_native.cpython-311-x86_64-linux-gnu.so"})
    CHECK(is_ignored_file(f));
  for (auto f : {"a.py", "lib.rs", "CMakeLists.txt", "Cargo.toml", "so.py"}) CHECK_FALSE(is_ignored_file(f));
  CHECK(is_python_source("pkg/a.py"));
  CHECK(is_python_source("pkg/a.pyi"));
  CHECK_FALSE(is_python_source("src/lib.rs"));
}

TEST_CASE("first rescan adds every source file and skips ignored dirs, editor files and ignored paths") {
  TempDir dir("tree");
  write_text(dir / "Cargo.toml", "[package]\n");
  write_text(dir / "src/lib.rs", "fn f() {}\n");
  write_text(dir / "pkg/__init__.py", "");
  write_text(dir / "pkg/.__init__.py.swp", "swap");
  write_text(dir / "target/debug/libx.so", "elf");
  write_text(dir / ".git/HEAD", "ref");
  write_text(dir / "pkg/__pycache__/x.cpython-311.pyc", "pyc");
  write_text(dir / ".prestage-state/gen", "state");
  SourceTree tree(dir.path(), {dir / ".prestage-state"});
  auto delta = tree.rescan();
  CHECK(delta.added.size() == 3);
  CHECK(contains(delta.added, dir / "Cargo.toml"));
  CHECK(contains(delta.added, dir / "src/lib.rs"));
  CHECK(contains(delta.added, dir / "pkg/__init__.py"));
  CHECK(delta.changed.empty());
  CHECK(delta.removed.empty());
  CHECK(tree.file_count() == 3);
  CHECK(tree.rescan().empty());
}

TEST_CASE("a touch that keeps the content gives an empty delta, a real edit does not") {
  TempDir dir("touch");
  write_text(dir / "a.py", "x = 1\n");
  SourceTree tree(dir.path());
  tree.rescan();
  std::string before = tree.combined_hash();
  set_mtime(dir / "a.py", timespec{1'000'000'000, 0});
  CHECK(tree.rescan().empty());
  CHECK(tree.refresh({dir / "a.py"}).empty());
  save_by_rename(dir / "a.py", "x = 1\n");  // new inode, same bytes
  CHECK(tree.rescan().empty());
  CHECK(tree.combined_hash() == before);
  write_text(dir / "a.py", "x = 2\n");
  auto delta = tree.refresh({dir / "a.py"});
  REQUIRE(delta.changed.size() == 1);
  CHECK(delta.changed[0] == dir / "a.py");
  CHECK(tree.combined_hash() != before);
}

TEST_CASE("a same-size in-place rewrite within one mtime tick is still caught by rescan") {
  TempDir dir("racy");
  write_text(dir / "a.rs", "aaaa");
  SourceTree tree(dir.path());
  tree.rescan();
  timespec recorded = mtime_of(dir / "a.rs");
  overwrite_in_place(dir / "a.rs", "bbbb");
  set_mtime(dir / "a.rs", recorded);  // size, inode and mtime all as recorded
  auto delta = tree.rescan();
  REQUIRE(delta.changed.size() == 1);
  CHECK(delta.changed[0] == dir / "a.rs");
}

TEST_CASE("python_only classifies restage-only deltas") {
  TempDir dir("pyonly");
  write_text(dir / "pkg/a.py", "1");
  write_text(dir / "pkg/a.pyi", "1");
  write_text(dir / "src/lib.rs", "1");
  SourceTree tree(dir.path());
  CHECK_FALSE(tree.rescan().python_only());  // mixed
  write_text(dir / "pkg/a.py", "2");
  write_text(dir / "pkg/a.pyi", "2");
  CHECK(tree.refresh({dir / "pkg/a.py", dir / "pkg/a.pyi"}).python_only());
  write_text(dir / "src/lib.rs", "2");
  CHECK_FALSE(tree.refresh({dir / "src/lib.rs"}).python_only());
  write_text(dir / "pkg/a.py", "3");
  write_text(dir / "src/lib.rs", "3");
  CHECK_FALSE(tree.rescan().python_only());
  fs::remove(dir / "pkg/a.py");
  CHECK(tree.refresh({dir / "pkg/a.py"}).python_only());  // deleting a .py only restages too
  CHECK_FALSE(SourceTree::Delta{}.python_only());
}

TEST_CASE("refresh walks new directories, removes vanished ones by prefix and skips outsiders") {
  TempDir dir("refresh");
  write_text(dir / "pkg.py", "1");
  write_text(dir / "pkg/x.py", "1");
  write_text(dir / "pkg-extra/y.py", "1");
  write_text(dir / "pkg0/z.py", "1");
  SourceTree tree(dir.path());
  tree.rescan();
  REQUIRE(tree.file_count() == 4);

  write_text(dir / "new/deep/a.py", "1");
  write_text(dir / "new/b.rs", "1");
  auto added = tree.refresh({dir / "new"});
  CHECK(added.added.size() == 2);
  CHECK(contains(added.added, dir / "new/deep/a.py"));

  fs::remove_all(dir / "pkg");
  auto removed = tree.refresh({dir / "pkg"});
  REQUIRE(removed.removed.size() == 1);
  CHECK(removed.removed[0] == dir / "pkg/x.py");
  CHECK(tree.file_count() == 5);

  TempDir other("outside");
  write_text(other / "o.py", "1");
  CHECK(tree.refresh({other / "o.py", dir / "target/x.rs", dir / ".git/HEAD"}).empty());

  // The same file reported many times and also through its dir gives one entry.
  write_text(dir / "new/b.rs", "2");
  auto dup = tree.refresh({dir / "new/b.rs", dir / "new/b.rs", dir / "new"});
  CHECK(dup.changed.size() == 1);
  CHECK(dup.added.empty());
}

TEST_CASE("a single-file root tracks only that file") {
  TempDir dir("single");
  write_text(dir / "mod.rs", "1");
  write_text(dir / "other.rs", "1");
  SourceTree tree(dir / "mod.rs");
  CHECK(tree.single_file());
  auto first = tree.rescan();
  REQUIRE(first.added.size() == 1);
  CHECK(first.added[0] == dir / "mod.rs");
  write_text(dir / "other.rs", "2");
  CHECK(tree.refresh({dir / "other.rs"}).empty());
  save_by_rename(dir / "mod.rs", "2");
  CHECK(tree.refresh({dir / "mod.rs"}).changed.size() == 1);
  fs::remove(dir / "mod.rs");
  CHECK(tree.rescan().removed.size() == 1);
  CHECK(tree.file_count() == 0);
}

TEST_CASE("a persisted snapshot lets a restart see 'unchanged' without rehashing into a delta") {
  TempDir dir("persist");
  write_text(dir / "src/lib.rs", "fn a() {}");
  write_text(dir / "pkg/__init__.py", "");
  SourceTree tree(dir.path());
  tree.rescan();
  auto snapshot = nlohmann::json::parse(tree.to_json().dump());

  auto restored = SourceTree::from_json(dir.path(), snapshot);
  CHECK(restored.file_count() == 2);
  CHECK(restored.combined_hash() == tree.combined_hash());
  CHECK(restored.rescan().empty());

  write_text(dir / "src/lib.rs", "fn b() {}");  // edited while the daemon was down
  auto again = SourceTree::from_json(dir.path(), snapshot);
  auto delta = again.rescan();
  REQUIRE(delta.changed.size() == 1);
  CHECK(delta.changed[0] == dir / "src/lib.rs");

  fs::remove_all(dir / "src");
  fs::remove_all(dir / "pkg");
  auto vanished = SourceTree::from_json(dir.path(), snapshot);
  CHECK(vanished.rescan().removed.size() == 2);

  CHECK_THROWS_AS(SourceTree::from_json(dir.path(), nlohmann::json::array()), std::invalid_argument);
  CHECK_THROWS_WITH(SourceTree::from_json(dir.path(), {{"format", 1}, {"files", {{"a.py", {{"size", "big"}}}}}}),
                    Catch::Contains("a.py"));
}

TEST_CASE("a format 1 snapshot (hex digests in objects, as older daemons wrote) still loads as unchanged") {
  TempDir dir("persist-v1");
  write_text(dir / "src/lib.rs", "fn a() {}");
  write_text(dir / "pkg/__init__.py", "");
  SourceTree tree(dir.path());
  tree.rescan();
  // What the previous daemon wrote for these files.
  nlohmann::json files = nlohmann::json::object();
  for (auto rel : {"src/lib.rs", "pkg/__init__.py"}) {
    struct stat st {};
    REQUIRE(::stat((dir / rel).c_str(), &st) == 0);
    files[rel] = {{"size", st.st_size},
                  {"mtime_ns", static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec},
                  {"inode", st.st_ino},
                  {"sha256", prestage::util::sha256_file(dir / rel)},
                  {"racy", false}};
  }
  nlohmann::json old = {{"format", 1}, {"root", dir.path().string()}, {"single_file", false}, {"combined_hash", tree.combined_hash()},
                        {"files", files}};
  auto restored = SourceTree::from_json(dir.path(), old);
  CHECK(restored.file_count() == 2);
  CHECK(restored.combined_hash() == tree.combined_hash());
  CHECK(restored.rescan().empty());

  old["files"]["src/lib.rs"]["sha256"] = "zz";
  CHECK_THROWS_WITH(SourceTree::from_json(dir.path(), old), Catch::Contains("src/lib.rs"));
  CHECK_THROWS_AS(SourceTree::from_json(dir.path(), {{"format", 3}, {"files", nlohmann::json::array()}}), std::invalid_argument);
}

TEST_CASE("the format 2 snapshot is columnar, and a damaged one is refused with a clear error") {
  TempDir dir("persist-v2");
  write_text(dir / "src/lib.rs", "fn a() {}");
  write_text(dir / "pkg/__init__.py", "");
  SourceTree tree(dir.path());
  tree.rescan();
  auto snapshot = tree.to_json();
  CHECK(snapshot["format"] == 2);
  CHECK(snapshot["count"] == 2);
  CHECK(snapshot["paths"] == std::string("pkg/__init__.py\0src/lib.rs", 26));
  CHECK(snapshot["sha256"].get<std::string>().substr(64) == prestage::util::sha256_file(dir / "src/lib.rs"));
  auto restored = SourceTree::from_json(dir.path(), nlohmann::json::parse(snapshot.dump()));
  CHECK(restored.file_count() == 2);
  CHECK(restored.rescan().empty());

  auto short_stats = snapshot;
  short_stats["stats"] = snapshot["stats"].get<std::string>().substr(0, 10);
  CHECK_THROWS_WITH(SourceTree::from_json(dir.path(), short_stats), Catch::Contains("bad stats"));
  auto wrong_count = snapshot;
  wrong_count["count"] = 3;
  CHECK_THROWS_WITH(SourceTree::from_json(dir.path(), wrong_count), Catch::Contains("does not hold 3"));
  auto bad_digest = snapshot;
  bad_digest["sha256"] = std::string(128, 'x');
  CHECK_THROWS_WITH(SourceTree::from_json(dir.path(), bad_digest), Catch::Contains("pkg/__init__.py"));
}

TEST_CASE("combined_hash is sha256 over (relpath, NUL, hex digest, newline) in path order") {
  TempDir dir("combined");
  write_text(dir / "b.py", "b");
  write_text(dir / "a/x.rs", "x");
  write_text(dir / "a-b.py", "ab");  // '-' sorts before '/'
  SourceTree tree(dir.path());
  tree.rescan();
  prestage::util::Sha256 expected;
  for (auto rel : {"a-b.py", "a/x.rs", "b.py"}) {
    expected.update(rel);
    expected.update(std::string_view("\0", 1));
    expected.update(prestage::util::sha256_file(dir / rel));
    expected.update("\n");
  }
  CHECK(tree.combined_hash() == expected.hex_digest());
}

TEST_CASE("thousands of files added, edited and removed in batches keep the tree consistent") {
  TempDir dir("bulk");
  for (int i = 0; i < 3000; ++i) write_text(dir / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i) + ".py"), std::to_string(i));
  SourceTree tree(dir.path());
  CHECK(tree.rescan().added.size() == 3000);
  CHECK(tree.file_count() == 3000);
  std::vector<fs::path> touched;
  for (int i = 0; i < 3000; i += 3) {
    fs::path p = dir / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i) + ".py");
    fs::remove(p);
    touched.push_back(p);
  }
  for (int i = 3000; i < 3500; ++i) {
    fs::path p = dir / "new" / ("g" + std::to_string(i) + ".rs");
    write_text(p, "n");
    touched.push_back(p);
  }
  write_text(dir / "d1/f1.py", "edited");
  touched.push_back(dir / "d1/f1.py");
  touched.push_back(dir / "new");  // the same new files again, through their directory
  auto delta = tree.refresh(touched);
  CHECK(delta.removed.size() == 1000);
  CHECK(delta.added.size() == 500);
  CHECK(delta.changed == std::vector<fs::path>{dir / "d1/f1.py"});
  CHECK(tree.file_count() == 2500);
  // The incremental result is what a fresh scan gives.
  SourceTree fresh(dir.path());
  fresh.rescan();
  CHECK(fresh.combined_hash() == tree.combined_hash());
  CHECK(tree.rescan().empty());
  auto restored = SourceTree::from_json(dir.path(), nlohmann::json::parse(tree.to_json().dump()));
  CHECK(restored.combined_hash() == tree.combined_hash());
  CHECK(restored.file_count() == 2500);
}

TEST_CASE("extra roots outside the root: rescanned, refreshed, kept in the snapshot") {
  TempDir t("extra");
  const fs::path root = t.path() / "project", dep = t.path() / "dep";
  write_text(root / "src" / "lib.rs", "fn a() {}");
  write_text(dep / "src" / "lib.rs", "pub fn v() -> i64 { 5 }");
  write_text(dep / "target" / "debug" / "junk", "x");
  SourceTree tree(root);
  tree.add_extra_root(dep);
  auto first = tree.rescan();
  CHECK(contains(first.added, dep / "src" / "lib.rs"));
  CHECK_FALSE(contains(first.added, dep / "target" / "debug" / "junk"));
  CHECK(tree.file_count() == 2);
  CHECK(tree.rescan().empty());

  write_text(dep / "src" / "lib.rs", "pub fn v() -> i64 { 6 }");
  auto changed = tree.refresh({dep / "src" / "lib.rs", t.path() / "elsewhere.rs"});
  CHECK(changed.changed == std::vector<fs::path>{dep / "src" / "lib.rs"});

  auto restored = SourceTree::from_json(root, tree.to_json());
  restored.add_extra_root(dep);
  CHECK(restored.rescan().empty());
  SourceTree without(root);
  CHECK(without.refresh({dep / "src" / "lib.rs"}).empty());  // outside the root and no extra root: skipped
}
