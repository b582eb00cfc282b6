#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <set>

#include "temp_dir.hpp"
#include "watch/source_tree.hpp"
#include "watch/watcher.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using prestage::test::save_by_rename;
using prestage::test::TempDir;
using prestage::test::write_text;
using prestage::watch::SourceTree;
using prestage::watch::Watcher;
using prestage::watch::WatcherOptions;

namespace {
struct Recorder {
  std::vector<fs::path> paths;
  std::set<fs::path> pending;  // reported since the last take()
  int callbacks = 0;
  int rescans = 0;
  Watcher::EventsFn fn() {
    return [this](std::vector<fs::path> batch, bool rescan) {
      ++callbacks;
      if (rescan) ++rescans;
      for (auto& p : batch) {
        paths.push_back(p);
        pending.insert(p);
      }
    };
  }
  bool saw(const fs::path& p) const { return std::find(paths.begin(), paths.end(), p) != paths.end(); }
  std::vector<fs::path> take() {
    std::vector<fs::path> out(pending.begin(), pending.end());
    pending.clear();
    return out;
  }
};

// Runs the io_context until `done` holds; the deadline only guards against hangs.
bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::seconds guard = 20s) {
  auto deadline = std::chrono::steady_clock::now() + guard;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_for(10ms);
  }
  return true;
}

bool has(const std::vector<fs::path>& v, const fs::path& p) { return std::find(v.begin(), v.end(), p) != v.end(); }

// Feeds watcher events into a SourceTree, as the project layer does, until `done(delta so far)` holds.
struct Pipeline {
  asio::io_context io;
  Recorder rec;
  SourceTree tree;
  Watcher watcher;
  SourceTree::Delta total;
  explicit Pipeline(const fs::path& root, WatcherOptions opts = {}) : tree(root), watcher(io, root, rec.fn(), {}, opts) {
    tree.rescan();
    watcher.start();
  }
  bool until(const std::function<bool(const SourceTree::Delta&)>& done) {
    return run_until(io, [&] {
      auto delta = tree.refresh(rec.take());
      for (auto& p : delta.changed) total.changed.push_back(p);
      for (auto& p : delta.added) total.added.push_back(p);
      for (auto& p : delta.removed) total.removed.push_back(p);
      return done(total);
    });
  }
};
}  // namespace

TEST_CASE("write and close of an existing file is reported and hashes as changed") {
  TempDir dir("w-write");
  write_text(dir / "pkg/a.py", "1");
  Pipeline p(dir.path());
  CHECK(p.watcher.mode() == "inotify");
  CHECK(p.watcher.watched_dirs() == 2);
  write_text(dir / "pkg/a.py", "2");
  REQUIRE(p.until([&](auto& d) { return has(d.changed, dir / "pkg/a.py"); }));
  CHECK(p.total.added.empty());
  CHECK(p.total.removed.empty());
}

TEST_CASE("a save by atomic rename is one change of the target, not an add or remove") {
  TempDir dir("w-rename");
  write_text(dir / "src/lib.rs", "fn a() {}");
  Pipeline p(dir.path());
  save_by_rename(dir / "src/lib.rs", "fn b() {}");
  REQUIRE(p.until([&](auto& d) { return has(d.changed, dir / "src/lib.rs"); }));
  CHECK(p.rec.saw(dir / "src/lib.rs"));
  CHECK(p.total.added.empty());
  CHECK(p.total.removed.empty());
  // A second rename save replaces the inode again and is still seen.
  save_by_rename(dir / "src/lib.rs", "fn c() {}");
  REQUIRE(p.until([&](auto& d) { return d.changed.size() == 2; }));
}

TEST_CASE("new and deleted files are reported") {
  TempDir dir("w-newdel");
  write_text(dir / "old.py", "1");
  Pipeline p(dir.path());
  write_text(dir / "new.py", "1");
  REQUIRE(p.until([&](auto& d) { return has(d.added, dir / "new.py"); }));
  fs::remove(dir / "old.py");
  REQUIRE(p.until([&](auto& d) { return has(d.removed, dir / "old.py"); }));
  CHECK(p.tree.file_count() == 1);
}

TEST_CASE("a new subdirectory is watched, and files written into it before the watch existed are found") {
  TempDir dir("w-subdir");
  write_text(dir / "a.py", "1");
  Pipeline p(dir.path());
  // Created in one go: the watch on sub/ and sub/deep/ can only be added after these writes happened.
  write_text(dir / "sub/x.py", "1");
  write_text(dir / "sub/deep/er/y.rs", "1");
  REQUIRE(p.until([&](auto& d) { return has(d.added, dir / "sub/x.py") && has(d.added, dir / "sub/deep/er/y.rs"); }));
  CHECK(p.watcher.watched_dirs() == 4);
  // Later edits deep inside arrive through the new watches.
  write_text(dir / "sub/deep/er/y.rs", "2");
  REQUIRE(p.until([&](auto& d) { return has(d.changed, dir / "sub/deep/er/y.rs"); }));
  // A directory moved in from outside brings its files; one moved out takes them away.
  TempDir outside("w-outside");
  write_text(outside / "moved/m.py", "1");
  fs::rename(outside / "moved", dir / "moved");
  REQUIRE(p.until([&](auto& d) { return has(d.added, dir / "moved/m.py"); }));
  fs::rename(dir / "sub", outside / "sub");
  REQUIRE(p.until([&](auto& d) { return has(d.removed, dir / "sub/deep/er/y.rs") && has(d.removed, dir / "sub/x.py"); }));
  CHECK(p.watcher.watched_dirs() == 2);  // root and moved/
}

TEST_CASE("ignored dirs and editor temp files produce no events") {
  TempDir dir("w-ignored");
  write_text(dir / "target/debug/old.d", "1");
  write_text(dir / "a.py", "1");
  asio::io_context io;
  Recorder rec;
  Watcher watcher(io, dir.path(), rec.fn());
  watcher.start();
  CHECK(watcher.watched_dirs() == 1);
  write_text(dir / "target/debug/old.d", "2");
  write_text(dir / "target/debug/new.o", "2");
  write_text(dir / ".git/objects/ab/cd", "x");
  write_text(dir / "pkg/__pycache__/a.cpython-311.pyc", "x");
  write_text(dir / "build-x/CMakeCache.txt", "x");
  write_text(dir / ".a.py.swp", "x");
  write_text(dir / "a.py~", "x");
  write_text(dir / "sentinel.py", "x");  // events arrive in order: once this is seen, the rest were processed
  REQUIRE(run_until(io, [&] { return rec.saw(dir / "sentinel.py"); }));
  for (const auto& p : rec.paths) {
    INFO(p.string());
    CHECK((p == dir / "sentinel.py" || p == dir / "pkg"));
  }
}

TEST_CASE("a single-file root watches its directory and reports only that file, across rename saves") {
  TempDir dir("w-single");
  write_text(dir / "mod.cpp", "1");
  write_text(dir / "other.cpp", "1");
  Pipeline p(dir / "mod.cpp");
  write_text(dir / "other.cpp", "2");
  save_by_rename(dir / "mod.cpp", "2");
  REQUIRE(p.until([&](auto& d) { return has(d.changed, dir / "mod.cpp"); }));
  save_by_rename(dir / "mod.cpp", "3");
  REQUIRE(p.until([&](auto& d) { return d.changed.size() == 2; }));
  for (const auto& path : p.rec.paths) CHECK(path == dir / "mod.cpp");
}

TEST_CASE("past the watch limit the watcher polls, with a clear error, and asks for rescans") {
  TempDir dir("w-poll");
  write_text(dir / "a/x.py", "1");
  write_text(dir / "b/y.py", "1");
  write_text(dir / "c/z.py", "1");
  asio::io_context io;
  Recorder rec;
  Watcher watcher(io, dir.path(), rec.fn(), {}, WatcherOptions{.poll_interval = 50ms, .max_watches = 2});
  REQUIRE_NOTHROW(watcher.start());
  CHECK(watcher.mode() == "poll");
  CHECK_THAT(watcher.error(), Catch::Contains("watch limit reached") && Catch::Contains("polling every 50 ms"));
  REQUIRE(run_until(io, [&] { return rec.rescans >= 3; }));
  CHECK(rec.paths.empty());
  // Polling + SourceTree::rescan still finds edits.
  SourceTree tree(dir.path());
  tree.rescan();
  write_text(dir / "b/y.py", "2");
  int seen = rec.rescans;
  REQUIRE(run_until(io, [&] { return rec.rescans > seen; }));
  CHECK(tree.rescan().changed == std::vector<fs::path>{dir / "b/y.py"});
  watcher.stop();
  CHECK(watcher.mode() == "stopped");
}

TEST_CASE("hitting the watch limit later, on new subdirectories, also falls back to polling") {
  TempDir dir("w-poll-late");
  asio::io_context io;
  Recorder rec;
  Watcher watcher(io, dir.path(), rec.fn(), {}, WatcherOptions{.poll_interval = 50ms, .max_watches = 2});
  watcher.start();
  REQUIRE(watcher.mode() == "inotify");
  write_text(dir / "a/b/c/x.py", "1");
  REQUIRE(run_until(io, [&] { return watcher.mode() == "poll"; }));
  CHECK_THAT(watcher.error(), Catch::Contains("max_watches=2"));
  CHECK(rec.rescans >= 1);
  int seen = rec.rescans;
  REQUIRE(run_until(io, [&] { return rec.rescans > seen; }));  // the poll timer keeps asking
}

TEST_CASE("IN_Q_OVERFLOW is counted and asks for a rescan, and watching continues") {
  std::ifstream limit_file("/proc/sys/fs/inotify/max_queued_events");
  long max_queued = 0;
  REQUIRE(limit_file >> max_queued);
  TempDir dir("w-overflow");
  write_text(dir / "a.py", "1");
  write_text(dir / "b.py", "1");
  asio::io_context io;
  Recorder rec;
  Watcher watcher(io, dir.path(), rec.fn());
  watcher.start();
  // The io_context is not running, so nothing reads: alternate touches (never coalesced) fill the kernel queue.
  long failed_touches = 0;
  for (long i = 0; i < max_queued + 1000; ++i) {
    fs::path f = dir / (i % 2 ? "a.py" : "b.py");
    timespec t[2] = {{i, 0}, {i, 0}};
    if (::utimensat(AT_FDCWD, f.c_str(), t, 0) != 0) ++failed_touches;
  }
  REQUIRE(failed_touches == 0);
  REQUIRE(run_until(io, [&] { return watcher.overflows() >= 1 && rec.rescans >= 1; }));
  CHECK(watcher.overflows() == 1);
  CHECK(watcher.mode() == "inotify");
  write_text(dir / "after.py", "1");
  REQUIRE(run_until(io, [&] { return rec.saw(dir / "after.py"); }));
}

TEST_CASE("a deleted root asks for a rescan, and watching resumes when it comes back") {
  TempDir parent("w-root");
  fs::path root = parent / "proj";
  write_text(root / "a.py", "1");
  asio::io_context io;
  Recorder rec;
  Watcher watcher(io, root, rec.fn(), {}, WatcherOptions{.poll_interval = 50ms});
  watcher.start();
  fs::remove_all(root);
  REQUIRE(run_until(io, [&] { return rec.rescans >= 1; }));
  CHECK_THAT(watcher.error(), Catch::Contains("deleted or moved"));
  CHECK(watcher.watched_dirs() == 0);
  int before = rec.rescans;
  write_text(root / "b.py", "1");
  REQUIRE(run_until(io, [&] { return rec.rescans > before; }));  // the recheck found it again
  CHECK(watcher.error().empty());
  write_text(root / "c.py", "1");
  REQUIRE(run_until(io, [&] { return rec.saw(root / "c.py"); }));
}

TEST_CASE("no callback runs after stop") {
  TempDir dir("w-stop");
  asio::io_context io;
  Recorder rec;
  Watcher watcher(io, dir.path(), rec.fn());
  watcher.start();
  write_text(dir / "a.py", "1");
  watcher.stop();
  io.run_for(200ms);
  CHECK(rec.callbacks == 0);
  CHECK(watcher.mode() == "stopped");
  CHECK(watcher.watched_dirs() == 0);
}
