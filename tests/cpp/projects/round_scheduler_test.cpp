// RoundScheduler driven by a fake BuildBackend: the real SourceTree, GenerationStore, BuildSlots
// and InterpreterCache (/usr/bin/python3), with builds that are timers instead of compilers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "projects/round_scheduler.hpp"
#include "temp_dir.hpp"

using namespace prestage;
using namespace prestage::projects;
using prestage::test::TempDir;
namespace net = boost::asio;

namespace {

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::trunc) << text;
}

// A build is a timer; its output is one "extension" file holding the build's number.
class FakeBackend final : public builders::BuildBackend {
 public:
  struct Task final : builders::BuildTask {
    std::shared_ptr<net::steady_timer> timer;
    bool cancelled = false;
    void cancel() override {
      cancelled = true;
      timer->cancel();
    }
  };

  std::chrono::milliseconds duration{50};
  bool fail = false;
  mutable int starts = 0;
  mutable std::shared_ptr<Task> last_task;

  ProjectKind kind() const override { return ProjectKind::cargo; }
  bool claim(const builders::ProjectFiles&, ProjectInfo&) const override { return false; }

  std::shared_ptr<builders::BuildTask> start(net::io_context& io, builders::BuildJob job, builders::ProgressFn progress,
                                             builders::DoneFn done) const override {
    const int n = ++starts;
    auto task = std::make_shared<Task>();
    task->timer = std::make_shared<net::steady_timer>(io, duration);
    last_task = task;
    net::post(io, [progress] { progress(builders::BuildProgress{"compiling", {}, {}}); });
    task->timer->async_wait([task, job, n, done, fail = fail](boost::system::error_code) {
      builders::BuildOutput out;
      if (task->cancelled) {
        out.cancelled = true;
      } else if (fail) {
        out.summary = "1 error";
        out.diagnostics.push_back({job.project.root.string(), 1, 1, "error", "it broke"});
      } else {
        fs::create_directories(job.work_dir);
        write(job.work_dir / "fake.so", "build " + std::to_string(n));
        out.ok = true;
        out.artifacts.push_back({"pkg._fake", job.work_dir / "fake.so"});
      }
      done(std::move(out));
    });
    return task;
  }

  stage::PackageLayout layout(const ProjectInfo& info, const builders::BuildOutput& output,
                              const builders::Interpreter& python) const override {
    stage::PackageLayout layout;
    layout.ext_suffix = python.ext_suffix;
    layout.trees.emplace_back(info.root / "pkg", "pkg");
    for (const auto& a : output.artifacts) layout.artifacts.emplace_back(a.module, a.path);
    return layout;
  }
};

struct Recorder final : ProjectEvents {
  std::vector<std::string> seen;  // "started", "finished ok N", "finished failed", "state <s>"
  int started = 0, finished = 0;
  std::vector<BuildRecord> records;
  void build_started(const std::string&, const std::vector<std::string>&) override {
    ++started;
    seen.push_back("started");
  }
  void build_progress(const std::string&, const projects::BuildProgress&) override {}
  void build_finished(const std::string&, const BuildRecord& r) override {
    ++finished;
    records.push_back(r);
    seen.push_back(r.ok ? "finished ok " + std::to_string(r.generation) : "finished failed");
  }
  void state_changed(const std::string&, State s) override { seen.push_back("state " + std::string(to_string(s))); }
};

struct Harness {
  TempDir dir{"rounds"};
  net::io_context io;
  net::thread_pool pool{1};
  builders::InterpreterCache interpreters{dir.path() / "interpreters.json"};
  BuildSlots slots{1};
  Recorder events;
  FakeBackend backend;
  std::unique_ptr<stage::GenerationStore> store;
  BuildRecords records;
  int idle_calls = 0;
  std::shared_ptr<RoundScheduler> rounds;
  fs::path root;

  Harness() {
    root = dir.path() / "project";
    write(root / "pkg" / "__init__.py", "x = 1\n");
    write(root / "src" / "lib.rs", "// v1\n");
    store = std::make_unique<stage::GenerationStore>(dir.path() / "state");
    ProjectInfo info;
    info.id = "fake-1";
    info.root = root;
    info.kind = ProjectKind::cargo;
    info.modules = {"pkg"};
    rounds = std::make_shared<RoundScheduler>(
        RoundContext{io, pool, interpreters, slots, events, backend, *store, dir.path() / "work", 5},
        RoundHooks{[] { return std::set<std::uint64_t>{}; }, [](const builders::Interpreter&) {}, [] {},
                   [this] { ++idle_calls; }},
        info, std::vector<std::string>{"/usr/bin/python3"}, std::make_shared<watch::SourceTree>(root),
        records, net::make_strand(pool));
  }
  ~Harness() {
    rounds->stop();
    pool.join();
  }

  // Runs the io loop until `done` holds; fails the test after 30 s instead of hanging.
  void run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      io.run_for(std::chrono::milliseconds(5));
      io.restart();
    }
  }
  void run_until_idle() {
    run_until([&] { return !rounds->busy(); });
  }
  void save(const fs::path& file, const std::string& text) {
    write(file, text);
    rounds->paths_changed({file}, false);
  }
};
}  // namespace

TEST_CASE("the first round builds, stages generation 1 and goes idle, in order") {
  Harness h;
  h.rounds->start();
  h.run_until_idle();
  CHECK(h.backend.starts == 1);
  CHECK(h.events.seen == std::vector<std::string>{"state queued", "state building", "started", "finished ok 1", "state idle"});
  CHECK(h.idle_calls == 1);
  REQUIRE(h.store->latest(h.interpreters.lookup("/usr/bin/python3").facts->key));
  CHECK(h.rounds->phase() == RoundScheduler::Phase::idle);
}

TEST_CASE("a save that changes no bytes starts no build and takes no slot") {
  Harness h;
  h.rounds->start();
  h.run_until_idle();
  h.save(h.root / "src" / "lib.rs", "// v1\n");
  CHECK(h.rounds->state() == State::queued);
  h.run_until_idle();
  CHECK(h.backend.starts == 1);
  CHECK(h.events.started == 1);
  CHECK(h.slots.running() == 0);
}

TEST_CASE("a save during a build queues one follow-up; the stale build is not published") {
  Harness h;
  h.backend.duration = std::chrono::milliseconds(300);
  h.rounds->start();
  h.run_until([&] { return h.backend.starts == 1 && h.rounds->phase() == RoundScheduler::Phase::building; });
  h.save(h.root / "src" / "lib.rs", "// v2\n");
  h.save(h.root / "src" / "lib.rs", "// v3\n");
  h.run_until([&] { return h.events.finished == 1 && !h.rounds->busy(); });
  CHECK(h.backend.starts == 2);  // the first (stale, within the starvation bound) and one follow-up
  CHECK(h.events.started == 2);
  REQUIRE(h.events.records.size() == 1);
  CHECK(h.events.records[0].ok);
  CHECK(h.events.records[0].generation == 1);
}

TEST_CASE("a failed build is recorded with its diagnostics and the next save retries") {
  Harness h;
  h.backend.fail = true;
  h.rounds->start();
  h.run_until_idle();
  REQUIRE(h.events.records.size() == 1);
  CHECK_FALSE(h.events.records[0].ok);
  CHECK(h.events.records[0].summary == "1 error");
  CHECK(h.events.records[0].diagnostics.size() == 1);
  const BuildRecord* last = h.records.last();
  REQUIRE(last);
  CHECK_FALSE(last->ok);
  h.backend.fail = false;
  h.save(h.root / "src" / "lib.rs", "// fixed\n");
  h.run_until([&] { return h.events.finished == 2 && !h.rounds->busy(); });
  CHECK(h.events.records[1].ok);
  CHECK(h.events.records[1].generation == 1);
}

TEST_CASE("only .py changes restage without the backend and without a slot") {
  Harness h;
  h.rounds->start();
  h.run_until_idle();
  h.save(h.root / "pkg" / "__init__.py", "x = 2\n");
  h.run_until([&] { return h.events.finished == 2 && !h.rounds->busy(); });
  CHECK(h.backend.starts == 1);
  CHECK(h.events.records[1].ok);
  CHECK(h.events.records[1].generation == 2);
  CHECK(h.events.records[1].log_tail.find("without compiling") != std::string::npos);
}

TEST_CASE("build/run builds unchanged sources; stop() cancels a running build and reports nothing after") {
  Harness h;
  h.rounds->start();
  h.run_until_idle();
  h.backend.duration = std::chrono::seconds(20);
  h.rounds->force_build();
  h.run_until([&] { return h.backend.starts == 2 && h.rounds->phase() == RoundScheduler::Phase::building; });
  const auto seen = h.events.seen.size();
  h.rounds->stop();
  CHECK(h.backend.last_task->cancelled);
  h.io.run_for(std::chrono::milliseconds(50));
  CHECK(h.events.seen.size() == seen);
  CHECK(h.slots.running() == 0);
}
