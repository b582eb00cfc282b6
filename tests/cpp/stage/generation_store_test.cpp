#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "stage/generation_store.hpp"
#include "temp_dir.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace fs = std::filesystem;
using namespace prestage::stage;
using prestage::test::TempDir;
using prestage::test::write_text;
using prestage::util::read_file;
using prestage::util::sha256_file;

namespace {
const std::string suffix = ".cpython-311-x86_64-linux-gnu.so";

struct Project {
  TempDir src{"stage-src"};
  TempDir state{"stage-state"};
  Project() {
    write_text(src / "python/pkg/__init__.py", "from ._native import *\n");
    write_text(src / "python/pkg/util.py", "X = 1\n");
    write_text(src / "python/pkg/__pycache__/util.cpython-311.pyc", "stale");
    write_text(src / "python/pkg/_native.cpython-311-x86_64-linux-gnu.so", "stale in-place build");
    write_text(src / "target/debug/lib_native.so", "\x7f" "ELF build 1");
  }
  PackageLayout layout() const {
    PackageLayout l;
    l.trees = {{src / "python/pkg", "pkg"}};
    l.generated = {{"pkg/_version.py", "VERSION = '1'\n"}};
    l.artifacts = {{"pkg._native", src / "target/debug/lib_native.so"}};
    l.ext_suffix = suffix;
    return l;
  }
};

Manifest draft(const std::string& source_hash = "src-1") {
  Manifest m;
  m.project_id = "p1";
  m.python_key = "cp311-abc";
  m.python = "/usr/bin/python3";
  m.source_hash = source_hash;
  m.duration_ms = 42;
  m.diagnostics = {{"/x/src/lib.rs", 3, 5, "warning", "unused variable"}};
  return m;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool any_tmp_under(const fs::path& dir) {
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("publish writes a complete sys.path entry with a manifest, and latest/list see it") {
  Project p;
  GenerationStore store(p.state.path());
  store.recover();
  CHECK_FALSE(store.latest("cp311-abc"));
  auto m = store.publish(p.layout(), draft());
  REQUIRE(m);
  CHECK(m->generation == 1);
  fs::path gen = store.generation_dir("cp311-abc", 1);
  CHECK(gen == p.state / "cp311-abc/gen-1");
  CHECK(names_in(gen) == std::vector<std::string>{"manifest.json", "pkg"});
  CHECK(names_in(gen / "pkg") == std::vector<std::string>{"__init__.py", "_native" + suffix, "_version.py", "util.py"});
  CHECK(read_file(gen / "pkg/_native.cpython-311-x86_64-linux-gnu.so") == "\x7f" "ELF build 1");  // the build, not the stale in-place .so
  CHECK(read_file(gen / "pkg/_version.py") == "VERSION = '1'\n");
  REQUIRE(m->artifacts.size() == 1);
  CHECK(m->artifacts[0].module == "pkg._native");
  CHECK(m->artifacts[0].relpath == "pkg/_native" + suffix);
  CHECK(m->artifacts[0].sha256 == sha256_file(p.src / "target/debug/lib_native.so"));
  CHECK(m->content_hash.size() == 64);
  CHECK_FALSE(m->created_at.empty());

  auto on_disk = nlohmann::json::parse(read_file(gen / "manifest.json")).get<Manifest>();
  CHECK(on_disk.generation == 1);
  CHECK(on_disk.source_hash == "src-1");
  CHECK(on_disk.python == "/usr/bin/python3");
  CHECK(on_disk.duration_ms == 42);
  CHECK(on_disk.content_hash == m->content_hash);
  REQUIRE(on_disk.diagnostics.size() == 1);
  CHECK(on_disk.diagnostics[0].line == 3);

  write_text(p.src / "target/debug/lib_native.so", "\x7f" "ELF build 2");
  auto m2 = store.publish(p.layout(), draft("src-2"));
  REQUIRE(m2);
  CHECK(m2->generation == 2);
  CHECK(store.latest("cp311-abc")->generation == 2);
  auto all = store.list("cp311-abc");
  REQUIRE(all.size() == 2);
  CHECK(all[0].generation == 2);
  CHECK(all[1].generation == 1);
  CHECK(store.python_keys() == std::vector<std::string>{"cp311-abc"});
  CHECK(read_file(gen / "pkg/_native.cpython-311-x86_64-linux-gnu.so") == "\x7f" "ELF build 1");  // gen-1 untouched
  CHECK_FALSE(any_tmp_under(p.state.path()));
}

TEST_CASE("unchanged content publishes nothing and burns no number, a Python-only change does publish") {
  Project p;
  GenerationStore store(p.state.path());
  REQUIRE(store.publish(p.layout(), draft()));
  CHECK_FALSE(store.publish(p.layout(), draft("src-touched")));
  CHECK(store.last_number() == 1);
  CHECK(store.list("cp311-abc").size() == 1);
  CHECK_FALSE(any_tmp_under(p.state.path()));

  write_text(p.src / "python/pkg/util.py", "X = 2\n");
  auto m = store.publish(p.layout(), draft("src-2"));
  REQUIRE(m);
  CHECK(m->generation == 2);
  CHECK(m->artifacts[0].sha256 == store.get("cp311-abc", 1)->artifacts[0].sha256);
  CHECK(read_file(store.generation_dir("cp311-abc", 2) / "pkg/util.py") == "X = 2\n");
}

TEST_CASE("every staged file is a fresh inode, never a link to the build output") {
  Project p;
  GenerationStore store(p.state.path());
  auto m = store.publish(p.layout(), draft());
  REQUIRE(m);
  fs::path staged = store.generation_dir("cp311-abc", m->generation) / m->artifacts[0].relpath;
  struct stat src {}, dst {};
  REQUIRE(::stat((p.src / "target/debug/lib_native.so").c_str(), &src) == 0);
  REQUIRE(::lstat(staged.c_str(), &dst) == 0);
  CHECK(S_ISREG(dst.st_mode));
  CHECK(dst.st_ino != src.st_ino);
  CHECK(dst.st_nlink == 1);
  struct stat py_src {}, py_dst {};
  REQUIRE(::stat((p.src / "python/pkg/util.py").c_str(), &py_src) == 0);
  REQUIRE(::lstat((store.generation_dir("cp311-abc", 1) / "pkg/util.py").c_str(), &py_dst) == 0);
  CHECK(py_dst.st_ino != py_src.st_ino);
  // An in-place rewrite of the build output cannot reach the generation.
  write_text(p.src / "target/debug/lib_native.so", "overwritten");
  CHECK(sha256_file(staged) == m->artifacts[0].sha256);
}

TEST_CASE("numbers stay monotonic across store instances, even after gc removed the newest dirs") {
  Project p;
  {
    GenerationStore store(p.state.path());
    CHECK(store.allocate_number() == 1);
    CHECK(store.allocate_number() == 2);
    auto m = store.publish(p.layout(), draft());
    REQUIRE(m);
    CHECK(m->generation == 3);
  }
  fs::remove_all(p.state / "cp311-abc/gen-3");
  GenerationStore again(p.state.path());
  again.recover();
  CHECK_FALSE(again.latest("cp311-abc"));
  CHECK(again.last_number() == 3);
  auto m = again.publish(p.layout(), draft());
  REQUIRE(m);
  CHECK(m->generation == 4);
  CHECK(GenerationStore(p.state.path()).latest("cp311-abc")->generation == 4);
}

TEST_CASE("recover deletes half-written and unreadable generations and keeps complete ones") {
  Project p;
  {
    GenerationStore store(p.state.path());
    REQUIRE(store.publish(p.layout(), draft()));
  }
  write_text(p.state / "cp311-abc/.gen.tmp.123.456/pkg/__init__.py", "half");
  write_text(p.state / "cp311-abc/.gc-1.tmp.1.2/pkg/x.py", "half-deleted");
  write_text(p.state / "cp311-abc/gen-9/pkg/__init__.py", "no manifest");
  write_text(p.state / "cp311-abc/gen-7/manifest.json", "{not json");
  write_text(p.state / "sources.json.tmp.77.88", "partial");
  GenerationStore store(p.state.path());
  store.recover();
  CHECK(names_in(p.state.path()) == std::vector<std::string>{"cp311-abc", "generation-counter.json"});
  CHECK(names_in(p.state / "cp311-abc") == std::vector<std::string>{"gen-1"});
  CHECK(store.latest("cp311-abc")->generation == 1);
  CHECK(store.last_number() >= 9);  // numbers a client may have seen are never reused
}

TEST_CASE("recover discards a generation whose files no longer match its manifest (torn by a power loss)") {
  Project p;
  {
    GenerationStore store(p.state.path(), StoreOptions{.durable = true});
    REQUIRE(store.publish(p.layout(), draft()));
    write_text(p.src / "python/pkg/util.py", "X = 2\n");
    REQUIRE(store.publish(p.layout(), draft()));
  }
  // Simulate what a power loss can leave of an unsynced file: right name, wrong (empty) content.
  write_text(p.state / "cp311-abc/gen-2/pkg/_native.cpython-311-x86_64-linux-gnu.so", "");
  GenerationStore store(p.state.path());
  store.recover();
  CHECK(store.latest("cp311-abc")->generation == 1);
  CHECK_FALSE(fs::exists(p.state / "cp311-abc/gen-2"));
  CHECK(store.last_number() == 2);
  REQUIRE(store.publish(p.layout(), draft()));
  CHECK(store.latest("cp311-abc")->generation == 3);
}

TEST_CASE("gc keeps the newest N plus pinned generations") {
  Project p;
  GenerationStore store(p.state.path());
  for (int i = 1; i <= 8; ++i) {
    write_text(p.src / "python/pkg/util.py", "X = " + std::to_string(i) + "\n");
    REQUIRE(store.publish(p.layout(), draft())->generation == static_cast<std::uint64_t>(i));
  }
  store.gc("cp311-abc", 3, {2, 7});
  std::vector<std::uint64_t> kept;
  for (auto& m : store.list("cp311-abc")) kept.push_back(m.generation);
  CHECK(kept == std::vector<std::uint64_t>{8, 7, 6, 2});
  CHECK(names_in(p.state / "cp311-abc") == std::vector<std::string>{"gen-2", "gen-6", "gen-7", "gen-8"});
  store.gc("cp311-abc", 0, {});
  CHECK(names_in(p.state / "cp311-abc") == std::vector<std::string>{"gen-8"});  // the latest always stays
  GenerationStore reloaded(p.state.path());
  CHECK(reloaded.list("cp311-abc").size() == 1);
}

TEST_CASE("a failing publish leaves the previous generation intact and no temp dir behind") {
  Project p;
  GenerationStore store(p.state.path());
  auto first = store.publish(p.layout(), draft());
  REQUIRE(first);
  auto layout = p.layout();
  write_text(p.src / "python/pkg/util.py", "X = 2\n");
  layout.extra_files = {{"pkg/py.typed", p.src / "vanished/py.typed"}};  // the source is gone by the time we copy
  try {
    store.publish(layout, draft("src-2"));
    FAIL("publish should have thrown");
  } catch (const std::system_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("vanished/py.typed") && Catch::Contains("No such file"));
    CHECK(e.code() == std::errc::no_such_file_or_directory);
  }
  CHECK_FALSE(any_tmp_under(p.state.path()));
  CHECK(store.latest("cp311-abc")->generation == 1);
  CHECK(read_file(store.generation_dir("cp311-abc", 1) / "pkg/util.py") == "X = 1\n");
  CHECK(sha256_file(store.generation_dir("cp311-abc", 1) / first->artifacts[0].relpath) == first->artifacts[0].sha256);

  auto missing_tree = p.layout();
  missing_tree.trees = {{p.src / "no-such-dir", "pkg"}};
  CHECK_THROWS_WITH(store.publish(missing_tree, draft()), Catch::Contains("no-such-dir"));
  CHECK_FALSE(any_tmp_under(p.state.path()));
}

TEST_CASE("bad layouts and keys are rejected with errors that name them") {
  Project p;
  GenerationStore store(p.state.path());
  auto escaping = p.layout();
  escaping.generated = {{"../evil.py", "x"}};
  CHECK_THROWS_WITH(store.publish(escaping, draft()), Catch::Contains("../evil.py"));
  auto no_suffix = p.layout();
  no_suffix.ext_suffix.clear();
  CHECK_THROWS_AS(store.publish(no_suffix, draft()), std::invalid_argument);
  auto bad_key = draft();
  bad_key.python_key = "../up";
  CHECK_THROWS_WITH(store.publish(p.layout(), bad_key), Catch::Contains("../up"));
  CHECK(artifact_relpath("pkg.sub._native", ".abi3.so") == "pkg/sub/_native.abi3.so");
  CHECK_THROWS_WITH(artifact_relpath("pkg..x", ".so"), Catch::Contains("pkg..x"));
  CHECK_FALSE(any_tmp_under(p.state.path()));
}

TEST_CASE("the source snapshot is saved atomically and read back") {
  TempDir state("stage-sources");
  GenerationStore store(state / "projects/p1");
  CHECK_FALSE(store.load_sources());
  nlohmann::json snapshot = {{"format", 1}, {"files", {{"a.py", {{"sha256", "00"}}}}}};
  store.save_sources(snapshot);
  CHECK(store.load_sources() == snapshot);
  write_text(state / "projects/p1/sources.json", "{truncated");
  CHECK_FALSE(store.load_sources());
}

TEST_CASE("after kill -9 mid-publish, recover leaves only complete generations and fresh numbers") {
  Project p;
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Publishes forever; one byte per completed generation.
    ::close(ready[0]);
    GenerationStore store(p.state.path());
    std::string big(4 << 20, 'x');
    for (int i = 0;; ++i) {
      write_text(p.src / "target/debug/lib_native.so", big + std::to_string(i));
      store.publish(p.layout(), draft());
      if (::write(ready[1], "g", 1) != 1) ::_exit(1);
    }
  }
  ::close(ready[1]);
  char buf[3];
  std::size_t got = 0;
  while (got < 3) {
    ssize_t n = ::read(ready[0], buf, 3 - got);
    REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  CHECK(WIFSIGNALED(status));

  GenerationStore store(p.state.path());
  store.recover();
  CHECK_FALSE(any_tmp_under(p.state.path()));
  auto gens = store.list("cp311-abc");
  REQUIRE(gens.size() >= 3);
  for (const auto& m : gens) {
    fs::path dir = store.generation_dir("cp311-abc", m.generation);
    for (const auto& a : m.artifacts) CHECK(sha256_file(dir / a.relpath) == a.sha256);
    CHECK(fs::exists(dir / "pkg/__init__.py"));
  }
  auto next = store.publish(p.layout(), draft("after-restart"));
  if (next) CHECK(next->generation > gens.front().generation);
}

TEST_CASE("readers on another thread see either the old or the new latest while publishing") {
  Project p;
  GenerationStore store(p.state.path());
  REQUIRE(store.publish(p.layout(), draft()));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done) {
      auto m = store.latest("cp311-abc");
      if (!m || !fs::exists(store.generation_dir("cp311-abc", m->generation) / "manifest.json")) ++bad;
    }
  });
  for (int i = 2; i <= 6; ++i) {
    write_text(p.src / "python/pkg/util.py", "X = " + std::to_string(i) + "\n");
    REQUIRE(store.publish(p.layout(), draft()));
  }
  done = true;
  reader.join();
  CHECK(bad == 0);
  CHECK(store.latest("cp311-abc")->generation == 6);
}

TEST_CASE("the version changes with every publish, gc and recover, and only then") {
  Project p;
  GenerationStore store(p.state.path());
  store.recover();
  auto v = store.version();
  REQUIRE(store.publish(p.layout(), draft()));
  CHECK(store.version() != v);
  v = store.version();
  CHECK_FALSE(store.publish(p.layout(), draft()));  // unchanged content: nothing published
  CHECK(store.version() == v);
  for (int i = 2; i <= 4; ++i) {
    write_text(p.src / "python/pkg/util.py", "X = " + std::to_string(i) + "\n");
    REQUIRE(store.publish(p.layout(), draft()));
  }
  v = store.version();
  store.gc("cp311-abc", 5, {});  // nothing to collect
  CHECK(store.version() == v);
  CHECK(store.latest("cp311-abc")->generation == 4);
  CHECK(store.version() == v);  // reads do not change it
  store.gc("cp311-abc", 2, {});
  CHECK(store.version() != v);
  CHECK_FALSE(fs::exists(store.generation_dir("cp311-abc", 1)));
  v = store.version();
  store.recover();
  CHECK(store.version() != v);
}
