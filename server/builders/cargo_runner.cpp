#include "builders/cargo_runner.hpp"

#include <nlohmann/json.hpp>
#include <optional>

#include "builders/diagnostics.hpp"

namespace prestage::builders {
namespace {

bool same_dir(const fs::path& a, const fs::path& b) {
  std::error_code ec1, ec2;
  auto ca = fs::weakly_canonical(a, ec1), cb = fs::weakly_canonical(b, ec2);
  return !ec1 && !ec2 && ca == cb;
}

struct CargoState {
  std::optional<fs::path> cdylib;        // from our crate's compiler-artifact message
  std::optional<fs::path> other_cdylib;  // any other cdylib, used when ours is not identified
};
}  // namespace

// Not --message-format=json-render-diagnostics: that renders rustc's diagnostics to stderr as
// text and sends no compiler-message JSON.
void run_cargo(const std::shared_ptr<BuildSession>& session, const fs::path& cwd, const fs::path& manifest_path,
               const std::string& module_name) {
  const BuildJob& job = session->job();
  std::vector<std::string> args = {"build", "--lib", "--message-format=json", "--target-dir",
                                   (job.work_dir / "target").string()};
  if (!manifest_path.empty()) {
    args.push_back("--manifest-path");
    args.push_back(manifest_path.string());
  }
  const std::string& profile = job.project.cargo_profile;
  if (profile == "release") {
    args.push_back("--release");
  } else if (!profile.empty() && profile != "dev") {
    args.push_back("--profile");
    args.push_back(profile);
  }
  fs::path crate_dir = manifest_path.empty() ? cwd : manifest_path.parent_path();
  fs::path project_root = job.project.root;
  auto state = std::make_shared<CargoState>();
  BuildSession* s = session.get();

  auto on_line = [s, state, crate_dir, project_root](StreamKind kind, const std::string& line) {
    if (kind == StreamKind::err) {
      s->log(line);
      std::string_view text = trim(line);
      // Display only: cargo's status lines ("Compiling pyo3 v0.17.3") as progress.
      if (text.substr(0, 10) == "Compiling " || text.substr(0, 9) == "Finished ") s->report_progress(std::string(text));
      return;
    }
    auto msg = nlohmann::json::parse(line, nullptr, false);
    if (!msg.is_object() || !msg.contains("reason")) {
      s->log(line);
      return;
    }
    const std::string reason = msg.value("reason", "");
    if (reason == "compiler-message") {
      const auto& m = msg["message"];
      if (m.is_object() && m.contains("rendered") && m["rendered"].is_string()) {
        std::string rendered = m["rendered"].get<std::string>();
        while (!rendered.empty() && rendered.back() == '\n') rendered.pop_back();
        s->log(rendered);
      }
      if (auto d = diagnostic_from_cargo_message(msg, project_root)) s->add_diagnostic(std::move(*d));
    } else if (reason == "compiler-artifact") {
      const auto& target = msg["target"];
      bool is_cdylib = false;
      if (target.is_object() && target.contains("kind") && target["kind"].is_array())
        for (const auto& k : target["kind"]) is_cdylib = is_cdylib || k == "cdylib";
      if (!is_cdylib || !msg.contains("filenames") || !msg["filenames"].is_array()) return;
      for (const auto& f : msg["filenames"]) {
        if (!f.is_string()) continue;
        fs::path file = f.get<std::string>();
        if (file.extension() != ".so") continue;
        bool ours = same_dir(fs::path(msg.value("manifest_path", "")).parent_path(), crate_dir);
        (ours ? state->cdylib : state->other_cdylib) = file;
      }
    }
  };

  auto next = [s, state, module_name](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) return s->fail_tool_exit("cargo", exit);
    std::optional<fs::path> file = state->cdylib ? state->cdylib : state->other_cdylib;
    if (!file) return s->fail("cargo built no cdylib; set crate-type = [\"cdylib\"] in Cargo.toml's [lib]");
    s->output().artifacts.push_back(Artifact{module_name, *file});
    s->succeed();
  };

  session->run_tool("cargo", std::move(args), cwd, {{"PYO3_PYTHON", job.python.executable.string()}},
                    std::move(on_line), std::move(next));
}
}  // namespace prestage::builders
