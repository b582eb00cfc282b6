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
#include "watch/inotify_backend.hpp"
#include "watch/poll_backend.hpp"
#include "watch/watcher.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using prestage::test::save_by_rename;
using prestage::test::TempDir;
using prestage::test::write_text;
using prestage::watch::SourceTree;
using prestage::watch::WatchBackends;
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

// Moves a file's mtime 10 s into the past, so that pollers trust its (size, mtime, inode) at once.
void age(const fs::path& p) {
  timespec t[2] = {{::time(nullptr) - 10, 0}, {::time(nullptr) - 10, 0}};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), t, 0) == 0);
}

bool has(const std::vector<fs::path>& v, const fs::path& p) { return std::find(v.begin(), v.end(), p) != v.end(); }

// Overflows the inotify queue while nothing reads it: touches `a` and `b` in turn (never coalesced)
// max_queued_events + 1000 times. Returns how many touches failed.
long flood_inotify_queue(const fs::path& a, const fs::path& b) {
  std::ifstream limit_file("/proc/sys/fs/inotify/max_queued_events");
  long max_queued = 0;
  REQUIRE(limit_file >> max_queued);
  long failed_touches = 0;
  for (long i = 0; i < max_queued + 1000; ++i) {
    timespec t[2] = {{i, 0}, {i, 0}};
    if (::utimensat(AT_FDCWD, (i % 2 ? a : b).c_str(), t, 0) != 0) ++failed_touches;
  }
  return failed_touches;
}

// Feeds watcher events into a SourceTree, as the project layer does, until `done(delta so far)` holds.
struct Pipeline {
  asio::io_context io;
  WatchBackends backends{io};
  Recorder rec;
  SourceTree tree;
  Watcher watcher;
  SourceTree::Delta total;
  explicit Pipeline(const fs::path& root, WatcherOptions opts = {}) : tree(root), watcher(backends, root, rec.fn(), {}, opts) {
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
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn());
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

TEST_CASE("past the watch limit the watcher polls, with a clear error, reporting changed, added and removed files") {
  TempDir dir("w-poll");
  write_text(dir / "a/x.py", "1");
  write_text(dir / "b/y.py", "1");
  write_text(dir / "c/z.py", "1");
  for (auto f : {"a/x.py", "b/y.py", "c/z.py"}) age(dir / f);
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn(), {}, WatcherOptions{.poll_interval = 50ms, .max_watches = 2});
  REQUIRE_NOTHROW(watcher.start());
  CHECK(watcher.mode() == "poll");
  CHECK(watcher.watched_dirs() == 0);
  CHECK_THAT(watcher.error(), Catch::Contains("watch limit reached") && Catch::Contains("polling every 50 ms"));
  // The first round only records (size, mtime, inode), then asks for one rescan.
  REQUIRE(run_until(io, [&] { return rec.rescans >= 1; }));
  SourceTree tree(dir.path());
  tree.rescan();
  std::uint64_t steps = backends.poll->steps();
  REQUIRE(run_until(io, [&] { return backends.poll->steps() >= steps + 3; }));
  CHECK(rec.rescans == 1);  // unchanged files: nothing reported, no rescans
  CHECK(rec.paths.empty());
  write_text(dir / "b/y.py", "22");
  write_text(dir / "d/new.py", "1");
  fs::remove(dir / "c/z.py");
  REQUIRE(run_until(io, [&] { return rec.saw(dir / "b/y.py") && rec.saw(dir / "d/new.py") && rec.saw(dir / "c/z.py"); }));
  CHECK(rec.rescans == 1);  // just the paths, never a full rescan
  auto delta = tree.refresh(rec.take());
  CHECK(delta.changed == std::vector<fs::path>{dir / "b/y.py"});
  CHECK(delta.added == std::vector<fs::path>{dir / "d/new.py"});
  CHECK(delta.removed == std::vector<fs::path>{dir / "c/z.py"});
  watcher.stop();
  CHECK(watcher.mode() == "stopped");
  CHECK(backends.poll->watches() == 0);
}

TEST_CASE("a polling watcher reports a vanished root once, rechecks quietly, and resumes when it returns") {
  TempDir parent("w-poll-root");
  fs::path root = parent / "proj";
  write_text(root / "a/x.py", "1");
  write_text(root / "b/y.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, root, rec.fn(), {}, WatcherOptions{.poll_interval = 50ms, .max_watches = 1});
  watcher.start();
  REQUIRE(watcher.mode() == "poll");
  REQUIRE(run_until(io, [&] { return rec.rescans >= 1; }));  // baseline done
  fs::remove_all(root);
  REQUIRE(run_until(io, [&] { return rec.rescans >= 2; }));
  CHECK_THAT(watcher.error(), Catch::Contains("deleted or moved") && Catch::Contains(root.string()));
  int callbacks = rec.callbacks;
  std::uint64_t steps = backends.poll->steps();
  REQUIRE(run_until(io, [&] { return backends.poll->steps() >= steps + 3; }));
  CHECK(rec.callbacks == callbacks);  // checked quietly
  write_text(root / "c/z.py", "1");
  REQUIRE(run_until(io, [&] { return rec.rescans >= 3; }));  // back: a new snapshot, then one rescan
  CHECK_THAT(watcher.error(), Catch::Contains("watch limit reached"));
  write_text(root / "c/w.py", "1");
  REQUIRE(run_until(io, [&] { return rec.saw(root / "c/w.py"); }));
}

TEST_CASE("hitting the watch limit later, on new subdirectories, also falls back to polling") {
  TempDir dir("w-poll-late");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn(), {}, WatcherOptions{.poll_interval = 50ms, .max_watches = 2});
  watcher.start();
  REQUIRE(watcher.mode() == "inotify");
  write_text(dir / "a/b/c/x.py", "1");
  REQUIRE(run_until(io, [&] { return watcher.mode() == "poll"; }));
  CHECK_THAT(watcher.error(), Catch::Contains("max_watches=2"));
  CHECK(rec.rescans >= 1);
  write_text(dir / "a/b/c/y.py", "1");
  REQUIRE(run_until(io, [&] { return rec.saw(dir / "a/b/c/y.py"); }));  // the poller reports it
}

TEST_CASE("IN_Q_OVERFLOW is counted and asks for a rescan, and watching continues") {
  TempDir dir("w-overflow");
  write_text(dir / "a.py", "1");
  write_text(dir / "b.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn());
  watcher.start();
  // The io_context is not running, so nothing reads the queue.
  REQUIRE(flood_inotify_queue(dir / "a.py", dir / "b.py") == 0);
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
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, root, rec.fn(), {}, WatcherOptions{.poll_interval = 50ms});
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

TEST_CASE("stopped watchers leave no work on the io_context, so the daemon's io thread can finish") {
  TempDir dir("w-idle");
  write_text(dir / "a/x.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec, polled;
  Watcher watcher(backends, dir.path(), rec.fn());
  Watcher poller(backends, dir.path(), polled.fn(), {}, WatcherOptions{.poll_interval = 50ms, .max_watches = 1});
  watcher.start();
  poller.start();
  REQUIRE(watcher.mode() == "inotify");
  REQUIRE(poller.mode() == "poll");
  REQUIRE(run_until(io, [&] { return polled.rescans >= 1; }));
  watcher.stop();
  poller.stop();
  io.restart();
  io.run_for(10s);  // returns at once when nothing is pending; the guard only bounds a failure
  CHECK(io.stopped());
  // The shared instance stays usable.
  watcher.start();
  write_text(dir / "a/x.py", "2");
  REQUIRE(run_until(io, [&] { return rec.saw(dir / "a/x.py"); }));
}

TEST_CASE("no callback runs after stop") {
  TempDir dir("w-stop");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn());
  watcher.start();
  write_text(dir / "a.py", "1");
  watcher.stop();
  io.run_for(200ms);
  CHECK(rec.callbacks == 0);
  CHECK(watcher.mode() == "stopped");
  CHECK(watcher.watched_dirs() == 0);
}

namespace {
std::size_t inotify_fds() {
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = fs::read_symlink(entry.path(), ec);
    if (!ec && target == "anon_inode:inotify") ++count;
  }
  return count;
}
}  // namespace

TEST_CASE("two watchers on one directory both get events, and one stopping does not silence the other") {
  TempDir dir("w-shared");
  write_text(dir / "a.rs", "1");
  write_text(dir / "b.cpp", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder first, second, file_a, file_b;
  Watcher w1(backends, dir.path(), first.fn());
  Watcher w2(backends, dir.path(), second.fn());
  Watcher single_a(backends, dir / "a.rs", file_a.fn());  // single-file projects side by side: the same wd
  Watcher single_b(backends, dir / "b.cpp", file_b.fn());
  for (auto* w : {&w1, &w2, &single_a, &single_b}) {
    w->start();
    REQUIRE(w->mode() == "inotify");
  }
  CHECK(backends.inotify->kernel_watches() == 1);
  write_text(dir / "a.rs", "2");
  write_text(dir / "b.cpp", "2");
  REQUIRE(run_until(io, [&] {
    return first.saw(dir / "a.rs") && second.saw(dir / "b.cpp") && file_a.saw(dir / "a.rs") && file_b.saw(dir / "b.cpp");
  }));
  for (const auto& p : file_a.paths) CHECK(p == dir / "a.rs");
  for (const auto& p : file_b.paths) CHECK(p == dir / "b.cpp");

  w1.stop();
  single_a.stop();
  CHECK(backends.inotify->kernel_watches() == 1);  // still used by the others
  int first_calls = first.callbacks, a_calls = file_a.callbacks;
  write_text(dir / "c.py", "1");
  save_by_rename(dir / "b.cpp", "3");
  write_text(dir / "a.rs", "3");
  REQUIRE(run_until(io, [&] { return second.saw(dir / "c.py") && file_b.callbacks >= 2 && second.saw(dir / "a.rs"); }));
  CHECK(first.callbacks == first_calls);
  CHECK(file_a.callbacks == a_calls);
  w2.stop();
  single_b.stop();
  CHECK(backends.inotify->kernel_watches() == 0);  // the last subscriber removed the kernel watch
}

TEST_CASE("nested projects share watches; the inner root's deletion is lost for it and a removal for the outer") {
  TempDir dir("w-nested");
  write_text(dir / "inner/x.py", "1");
  write_text(dir / "top.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder outer_rec, inner_rec;
  Watcher outer(backends, dir.path(), outer_rec.fn(), {}, WatcherOptions{.poll_interval = 50ms});
  Watcher inner(backends, dir / "inner", inner_rec.fn(), {}, WatcherOptions{.poll_interval = 50ms});
  outer.start();
  inner.start();
  CHECK(backends.inotify->kernel_watches() == 2);
  CHECK(outer.watched_dirs() == 2);
  CHECK(inner.watched_dirs() == 1);
  write_text(dir / "inner/x.py", "2");
  REQUIRE(run_until(io, [&] { return outer_rec.saw(dir / "inner/x.py") && inner_rec.saw(dir / "inner/x.py"); }));
  fs::remove_all(dir / "inner");
  REQUIRE(run_until(io, [&] { return inner_rec.rescans >= 1 && outer_rec.saw(dir / "inner"); }));
  CHECK_THAT(inner.error(), Catch::Contains("deleted or moved") && Catch::Contains((dir / "inner").string()));
  CHECK(outer.error().empty());
  CHECK(backends.inotify->kernel_watches() == 1);
  write_text(dir / "top.py", "2");
  REQUIRE(run_until(io, [&] { return outer_rec.saw(dir / "top.py"); }));
  // The inner root comes back: the recheck watches it again, and both see its edits.
  write_text(dir / "inner/y.py", "1");
  REQUIRE(run_until(io, [&] { return inner_rec.rescans >= 2 && inner.error().empty(); }));
  write_text(dir / "inner/y.py", "2");
  REQUIRE(run_until(io, [&] { return inner_rec.saw(dir / "inner/y.py") && outer_rec.saw(dir / "inner/y.py"); }));
}

TEST_CASE("200 watchers share exactly one inotify instance") {
  TempDir dir("w-many");
  std::size_t before = inotify_fds();
  asio::io_context io;
  WatchBackends backends(io);
  std::vector<Recorder> recs(200);
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 200; ++i) {
    fs::path root = dir / ("p" + std::to_string(i));
    write_text(root / "a.py", "1");
    watchers.push_back(std::make_unique<Watcher>(backends, root, recs[i].fn()));
    watchers.back()->start();
  }
  for (auto& w : watchers) REQUIRE(w->mode() == "inotify");
  CHECK(inotify_fds() == before + 1);
  CHECK(backends.inotify->kernel_watches() == 200);
  write_text(dir / "p199/a.py", "2");
  write_text(dir / "p0/a.py", "2");
  REQUIRE(run_until(io, [&] { return recs[199].saw(dir / "p199/a.py") && recs[0].saw(dir / "p0/a.py"); }));
  CHECK(recs[100].callbacks == 0);
  watchers.clear();
  CHECK(backends.inotify->kernel_watches() == 0);
}

TEST_CASE("IN_Q_OVERFLOW on the shared instance reaches every subscriber") {
  TempDir dir("w-overflow-all");
  write_text(dir / "one/a.py", "1");
  write_text(dir / "one/c.py", "1");
  write_text(dir / "two/b.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec_one, rec_two, rec_single;
  Watcher one(backends, dir / "one", rec_one.fn());
  Watcher two(backends, dir / "two", rec_two.fn());
  Watcher single(backends, dir / "two/b.py", rec_single.fn());
  one.start();
  two.start();
  single.start();
  REQUIRE(flood_inotify_queue(dir / "one/a.py", dir / "one/c.py") == 0);  // nothing reads meanwhile
  REQUIRE(run_until(io, [&] { return rec_one.rescans >= 1 && rec_two.rescans >= 1 && rec_single.rescans >= 1; }));
  CHECK(one.overflows() == 1);
  CHECK(two.overflows() == 1);
  CHECK(single.overflows() == 1);
  write_text(dir / "two/b.py", "2");
  REQUIRE(run_until(io, [&] { return rec_two.saw(dir / "two/b.py") && rec_single.saw(dir / "two/b.py"); }));
}

// Read-your-writes: sync() delivers, before it returns and without the io_context running, every
// change completed before the call.
TEST_CASE("sync delivers every write made before it, new directories included, before returning") {
  TempDir dir("w-sync");
  write_text(dir / "a.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn());
  watcher.start();
  REQUIRE(watcher.mode() == "inotify");
  write_text(dir / "a.py", "2");
  write_text(dir / "new/deeper/b.py", "1");  // created before any watch on new/ could exist
  watcher.sync();
  CHECK(rec.saw(dir / "a.py"));
  CHECK(rec.saw(dir / "new"));  // reported as a directory: SourceTree walks it and finds b.py
  SourceTree tree(dir.path());
  tree.rescan();
  write_text(dir / "new/deeper/b.py", "2");  // the new directory is watched from now on
  int callbacks = rec.callbacks;
  watcher.sync();
  CHECK(rec.callbacks == callbacks + 1);
  CHECK(rec.saw(dir / "new/deeper/b.py"));
  watcher.sync();  // nothing new: no callback
  CHECK(rec.callbacks == callbacks + 1);
}

TEST_CASE("sync of a polling watcher stats every file before returning, even between its rounds") {
  TempDir dir("w-sync-poll");
  write_text(dir / "a/x.py", "1");
  write_text(dir / "b/y.py", "1");
  for (auto f : {"a/x.py", "b/y.py"}) age(dir / f);
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, dir.path(), rec.fn(), {}, WatcherOptions{.poll_interval = 3600s, .poll_only = true});
  watcher.start();
  REQUIRE(watcher.mode() == "poll");
  CHECK_THAT(watcher.error(), Catch::Contains("--watch poll"));
  REQUIRE(run_until(io, [&] { return rec.rescans >= 1; }));  // the baseline round; the next is an hour away
  write_text(dir / "b/y.py", "22");
  write_text(dir / "c/new.py", "1");
  watcher.sync();
  CHECK(rec.saw(dir / "b/y.py"));
  CHECK(rec.saw(dir / "c/new.py"));
  CHECK_FALSE(rec.saw(dir / "a/x.py"));
  CHECK(rec.rescans == 1);
}

TEST_CASE("sync rechecks a lost root at once instead of at the next interval") {
  TempDir parent("w-sync-root");
  fs::path root = parent / "proj";
  write_text(root / "a.py", "1");
  asio::io_context io;
  WatchBackends backends(io);
  Recorder rec;
  Watcher watcher(backends, root, rec.fn(), {}, WatcherOptions{.poll_interval = 3600s});
  watcher.start();
  fs::remove_all(root);
  watcher.sync();
  CHECK_THAT(watcher.error(), Catch::Contains("deleted or moved"));
  int rescans = rec.rescans;
  write_text(root / "b.py", "1");
  watcher.sync();
  CHECK(watcher.error().empty());
  CHECK(rec.rescans == rescans + 1);
  write_text(root / "c.py", "1");
  watcher.sync();
  CHECK(rec.saw(root / "c.py"));
}
