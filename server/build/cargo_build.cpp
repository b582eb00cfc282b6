// cargo projects (maturin layout) and single .rs files (a generated crate under the work dir).
#include <nlohmann/json.hpp>

#include "build/build_session.hpp"
#include "build/diagnostics.hpp"
#include "util/fs.hpp"

namespace prestage::build {
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

// Runs `cargo build --lib --message-format=json` (not json-render-diagnostics: that renders
// rustc's diagnostics to stderr as text and sends no compiler-message JSON).
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

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
}  // namespace

void start_cargo_project(const std::shared_ptr<BuildSession>& session) {
  const ProjectInfo& project = session->job().project;
  if (!fs::exists(project.root / "Cargo.toml")) throw BuildError("no Cargo.toml in " + project.root.string());
  std::string module = project.extension_module;
  if (module.empty()) module = project.modules.empty() ? project.root.filename().string() : project.modules.front();
  // cwd = project root so the user's .cargo/config.toml applies. cargo writes Cargo.lock
  // next to Cargo.toml when it is missing; that is the only write into the source tree.
  run_cargo(session, project.root, {}, module);
}

void start_rust_file(const std::shared_ptr<BuildSession>& session) {
  const BuildJob& job = session->job();
  const fs::path& source = job.project.root;
  if (!fs::is_regular_file(source)) throw BuildError("rust source file not found: " + source.string());
  std::string module = job.project.extension_module.empty() ? source.stem().string() : job.project.extension_module;
  std::string requirement = job.project.pyo3_requirement.empty() ? "*" : job.project.pyo3_requirement;
  fs::path crate = job.work_dir / "crate";
  fs::create_directories(crate);
  std::string manifest =
      "# Generated by prestage for " + source.string() + "\n"
      "[package]\n"
      "name = " + toml_string(module) + "\n"
      "version = \"0.0.0\"\n"
      "edition = \"2021\"\n"
      "publish = false\n\n"
      "[lib]\n"
      "name = " + toml_string(module) + "\n"
      "path = " + toml_string(source.string()) + "\n"
      "crate-type = [\"cdylib\"]\n\n"
      "[dependencies]\n"
      "pyo3 = { version = " + toml_string(requirement) + ", features = [\"extension-module\"] }\n\n"
      "[workspace]\n";
  fs::path manifest_path = crate / "Cargo.toml";
  std::error_code ec;
  bool same = fs::exists(manifest_path, ec) && util::read_file(manifest_path) == manifest;
  if (!same) util::write_file_atomic(manifest_path, manifest, fs::perms(0644));
  // cwd = the file's directory, so the user's .cargo/config.toml there (or above) applies;
  // Cargo.lock goes next to the generated manifest.
  run_cargo(session, source.parent_path(), manifest_path, module);
}
}  // namespace prestage::build
