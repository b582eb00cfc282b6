#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "projects/project_manager.hpp"
#include "rpc/protocol.hpp"
#include "temp_dir.hpp"
#include "util/fs.hpp"

using namespace prestage;
using namespace prestage::projects;
using test::TempDir;
using test::write_text;

namespace {
fs::path make_cargo_project(const fs::path& dir, const std::string& name) {
  write_text(dir / "Cargo.toml", "[package]\nname = \"" + name + "\"\n[dependencies]\npyo3 = \"0.17\"\n");
  return dir;
}
}  // namespace

TEST_CASE("open is idempotent and collects interpreters") {
  TempDir state("projects"), work("projects");
  auto root = make_cargo_project(work.path() / "demo", "demo");
  ProjectManager pm(state.path());
  int changes = 0;
  pm.set_on_changed([&] { ++changes; });
  const auto id = pm.open(root, "/usr/bin/python3").info.id;
  CHECK(pm.open(root).info.id == id);
  CHECK(pm.open(root / "." , "/usr/bin/python3").info.id == id);
  CHECK(pm.count() == 1);
  CHECK(changes == 1);
  CHECK(pm.find(id)->pythons == std::vector<std::string>{"/usr/bin/python3"});
  CHECK_THROWS_WITH(pm.open(root, "python3"), Catch::Contains("absolute"));
  CHECK_THROWS_WITH(pm.open(root, "/no/such/python"), Catch::Contains("/no/such/python"));
}

TEST_CASE("list entries carry the protocol fields") {
  TempDir state("projects"), work("projects");
  auto root = make_cargo_project(work.path() / "demo", "demo");
  ProjectManager pm(state.path());
  pm.open(root);
  auto list = rpc::project_list(pm);
  REQUIRE(list.size() == 1);
  for (const char* field : {"id", "root", "kind", "modules", "generation", "state", "last_build", "watch", "pythons"}) {
    INFO(field);
    CHECK(list[0].contains(field));
  }
  CHECK(list[0]["generation"] == 0);
  CHECK(list[0]["state"] == "idle");
  CHECK(list[0]["last_build"].is_null());
  CHECK_FALSE(list[0].contains("error"));
}

TEST_CASE("the registry persists across restarts, atomically and with mode 0600") {
  TempDir state("projects"), work("projects");
  auto a = make_cargo_project(work.path() / "a", "alpha");
  auto b = make_cargo_project(work.path() / "b", "beta");
  nlohmann::json before;
  {
    ProjectManager pm(state.path());
    pm.open(a, "/usr/bin/python3");
    pm.open(b);
    before = rpc::project_list(pm);
  }
  CHECK((fs::status(state.path() / "projects.json").permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  ProjectManager reloaded(state.path());
  CHECK(rpc::project_list(reloaded) == before);
}

TEST_CASE("close by id and by root, with errors naming what is unknown") {
  TempDir state("projects"), work("projects");
  auto a = make_cargo_project(work.path() / "a", "alpha");
  auto b = make_cargo_project(work.path() / "b", "beta");
  ProjectManager pm(state.path());
  int changes = 0;
  pm.set_on_changed([&] { ++changes; });
  const auto id_a = pm.open(a).info.id;
  const auto id_b = pm.open(b).info.id;
  CHECK(pm.close_by_id(id_a) == id_a);
  CHECK(pm.close_by_root(work.path() / "b" / ".") == id_b);
  CHECK(pm.count() == 0);
  CHECK(changes == 4);
  CHECK_THROWS_WITH(pm.close_by_id("ghost-123"), Catch::Contains("ghost-123"));
  CHECK_THROWS_WITH(pm.close_by_root(work.path() / "zzz"), Catch::Contains("zzz"));
  CHECK(ProjectManager(state.path()).count() == 0);
}

TEST_CASE("a project whose root vanished is kept with an error after a restart") {
  TempDir state("projects"), work("projects");
  auto root = make_cargo_project(work.path() / "gone", "gone");
  std::string id;
  {
    ProjectManager pm(state.path());
    id = pm.open(root).info.id;
  }
  fs::remove_all(root);
  ProjectManager pm(state.path());
  REQUIRE(pm.count() == 1);
  auto entry = rpc::project_list(pm)[0];
  CHECK(entry["id"] == id);
  CHECK(entry["kind"] == "cargo");
  CHECK(entry["modules"] == nlohmann::json::array({"gone"}));
  CHECK_THAT(entry["error"].get<std::string>(), Catch::Contains("does not exist"));
  CHECK(pm.close_by_root(root) == id);  // still closable by its old root
}

TEST_CASE("a corrupt registry is moved aside and the manager starts empty") {
  TempDir state("projects");
  util::write_file_atomic(state.path() / "projects.json", "{not json");
  ProjectManager pm(state.path());
  CHECK(pm.count() == 0);
  CHECK(fs::exists(state.path() / "projects.json.broken"));
}

TEST_CASE("recent python checks remember a pass for their bound only, and never a failure") {
  TempDir work("projects");
  const fs::path python = work.path() / "python3";
  auto write_interpreter = [&] {
    write_text(python, "#!/bin/sh\n");
    fs::permissions(python, fs::perms::owner_all);
  };
  write_interpreter();
  const fs::path notes = work.path() / "notes.txt";
  write_text(notes, "not a program\n");
  RecentPythonChecks trusting(std::chrono::hours(1));
  RecentPythonChecks checking(std::chrono::milliseconds(0));
  trusting.validate(python.string());
  checking.validate(python.string());
  CHECK_THROWS_WITH(trusting.validate("python3"), Catch::Contains("absolute"));
  CHECK_THROWS_WITH(trusting.validate((work.path() / "missing").string()), Catch::Contains("missing"));
  CHECK_THROWS_WITH(trusting.validate(notes.string()), Catch::Contains(notes.string()) && Catch::Contains("not executable"));
  fs::remove(python);
  CHECK_NOTHROW(trusting.validate(python.string()));  // within the bound: remembered
  CHECK_THROWS_WITH(checking.validate(python.string()), Catch::Contains(python.string()) && Catch::Contains("not an existing file"));
  write_interpreter();
  CHECK_NOTHROW(checking.validate(python.string()));
}
