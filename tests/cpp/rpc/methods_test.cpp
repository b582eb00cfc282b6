// The registered methods against a real ProjectManager on a private state dir.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "projects/project_manager.hpp"
#include "rpc/dispatcher.hpp"
#include "rpc/methods/methods.hpp"
#include "rpc/notifier.hpp"
#include "rpc/services.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace prestage;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/prestage-rpc-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

struct Fixture {
  TempDir state;
  TempDir work;
  projects::ProjectManager manager{state.path};
  rpc::Notifier notifier;
  rpc::Dispatcher dispatcher;
  int shutdowns = 0;
  rpc::Services services{manager, notifier, rpc::ServerIdentity{"0.1.0", 42, 4242, state.path, "2026-01-01T00:00:00Z"},
                         [this] { ++shutdowns; }};
  Fixture() { rpc::register_all(dispatcher, services); }

  json call(const std::string& method, json params = json::object()) {
    json request = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", std::move(params)}};
    std::optional<std::string> text;
    int calls = 0;
    dispatcher.handle(request.dump(), rpc::CallContext{}, [&](std::optional<std::string> reply) {
      ++calls;
      text = std::move(reply);
    });
    REQUIRE(calls == 1);
    return json::parse(text.value());
  }
};
}  // namespace

TEST_CASE("initialize answers the server identity and a client id") {
  Fixture f;
  auto reply = f.call("initialize", {{"client", {{"name", "pytest"}, {"version", "1"}, {"pid", 99}}}});
  CHECK(reply["result"]["server"] == json{{"name", "prestaged"}, {"version", "0.1.0"}});
  CHECK_THAT(reply["result"]["client_id"].get<std::string>(), Catch::StartsWith("pytest-"));
  auto bad = f.call("initialize", {{"client", {{"version", "1"}}}});
  CHECK(bad["error"]["code"] == rpc::codes::invalid_params);
  CHECK_THAT(bad["error"]["message"].get<std::string>(), Catch::Contains("params.client.name"));
  bad = f.call("initialize", json::object());
  CHECK_THAT(bad["error"]["message"].get<std::string>(), Catch::Contains("params.client"));
}

TEST_CASE("server/info reports identity and counts") {
  Fixture f;
  auto info = f.call("server/info")["result"];
  CHECK(info["pid"] == 42);
  CHECK(info["port"] == 4242);
  CHECK(info["state_dir"] == f.state.path.string());
  CHECK(info["projects"] == 0);
  CHECK(info["builds_running"] == 0);
  CHECK(info["clients"] == 0);
  CHECK(info.contains("uptime_s"));
}

TEST_CASE("shutdown replies null and requests the shutdown") {
  Fixture f;
  auto reply = f.call("shutdown");
  CHECK(reply.contains("result"));
  CHECK(reply["result"].is_null());
  CHECK(f.shutdowns == 1);
}

TEST_CASE("project/open, list and close through the methods") {
  Fixture f;
  write(f.work.path / "demo" / "Cargo.toml", "[package]\nname = \"demo-ext\"\n[dependencies]\npyo3 = \"0.17\"\n");
  auto opened = f.call("project/open", {{"root", (f.work.path / "demo").string()}, {"python", "/usr/bin/python3"}});
  REQUIRE(opened.contains("result"));
  CHECK(opened["result"]["kind"] == "cargo");
  CHECK(opened["result"]["modules"] == json::array({"demo_ext"}));
  const std::string id = opened["result"]["id"];

  auto list = f.call("project/list")["result"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["id"] == id);
  CHECK(list[0]["generation"] == 0);
  CHECK(list[0]["state"] == "idle");
  CHECK(list[0]["last_build"].is_null());
  CHECK(list[0]["pythons"] == json::array({"/usr/bin/python3"}));

  auto missing = f.call("project/open", {{"root", (f.work.path / "nope").string()}});
  CHECK(missing["error"]["code"] == rpc::codes::invalid_params);
  CHECK_THAT(missing["error"]["message"].get<std::string>(), Catch::Contains("does not exist"));
  auto relative = f.call("project/open", {{"root", "relative/dir"}});
  CHECK_THAT(relative["error"]["message"].get<std::string>(), Catch::Contains("absolute"));
  auto bad_python = f.call("project/open", {{"root", (f.work.path / "demo").string()}, {"python", "python3"}});
  CHECK_THAT(bad_python["error"]["message"].get<std::string>(), Catch::Contains("params.python"));

  auto closed = f.call("project/close", {{"id", id}});
  CHECK(closed["result"] == json{{"id", id}, {"closed", true}});
  auto again = f.call("project/close", {{"id", id}});
  CHECK(again["error"]["code"] == rpc::codes::invalid_params);
  CHECK_THAT(again["error"]["message"].get<std::string>(), Catch::Contains(id));
  auto neither = f.call("project/close");
  CHECK_THAT(neither["error"]["message"].get<std::string>(), Catch::Contains("params.id"));
}
