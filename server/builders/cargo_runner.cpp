#include "builders/cargo_runner.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "builders/cargo_errors.hpp"
#include "builders/diagnostics.hpp"
#include "builders/elf_needed.hpp"

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
  CargoPlainErrors plain;                // cargo's own `error:` blocks on stderr
  std::size_t json_errors = 0;           // rustc errors from compiler-message
  std::optional<CargoUnitCount> units;   // run_cargo's crate count (not cargo metadata's run)
  std::optional<Fraction> fraction;      // the newest one, sent with each status line
  std::string status;                    // cargo's newest status line ("Compiling pyo3 v0.17.3")
  std::map<std::string, fs::path> out_dirs;  // package id -> its build script's OUT_DIR (fresh units too)

  void report(BuildSession* s, std::string message) const {
    BuildProgress p{std::move(message), {}, {}};
    if (fraction) p.done = fraction->done, p.total = fraction->total;
    s->report_progress(std::move(p));
  }
};

// After a failed cargo run: cargo's plain `error:` blocks become diagnostics at `manifest` and the
// first line of the first one the summary, when rustc reported no error of its own.
void fail_cargo(BuildSession* s, CargoState& state, const std::string& what, const fs::path& manifest, const ProcessExit& exit) {
  const auto& blocks = state.plain.finish();
  if (state.json_errors == 0 && !blocks.empty()) {
    for (const auto& block : blocks) {
      Diagnostic d;
      d.file = manifest.string();
      d.severity = "error";
      d.message = block;
      s->add_diagnostic(std::move(d));
    }
    return s->fail(what + ": " + blocks.front().substr(0, blocks.front().find('\n')));
  }
  s->fail_tool_exit("cargo", exit);
}

// maturin's check of the built cdylib (its auditwheel message): it must not link libpython.
std::string links_libpython(const fs::path& cdylib) {
  auto needed = elf_needed_libraries(cdylib);
  if (!needed) return {};
  for (const auto& lib : *needed)
    if (lib.rfind("libpython", 0) == 0)
      return "Your library links libpython (" + lib +
             "), which libraries must not do. Have you forgotten to activate the extension-module feature?";
  return {};
}
}  // namespace

// Not --message-format=json-render-diagnostics: that renders rustc's diagnostics to stderr as
// text and sends no compiler-message JSON.
void run_cargo(const std::shared_ptr<BuildSession>& session, const fs::path& cwd, const fs::path& manifest_path,
               const std::string& module_name, const CargoOptions& options) {
  const BuildJob& job = session->job();
  std::vector<std::string> args = {"build", "--lib", "--message-format=json", "--target-dir",
                                   (job.work_dir / "target").string()};
  if (!manifest_path.empty()) {
    args.push_back("--manifest-path");
    args.push_back(manifest_path.string());
  }
  const std::string& profile = options.profile;
  if (profile == "release") {
    args.push_back("--release");
  } else if (!profile.empty() && profile != "dev") {
    args.push_back("--profile");
    args.push_back(profile);
  }
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  fs::path crate_dir = manifest_path.empty() ? cwd : manifest_path.parent_path();
  fs::path manifest = manifest_path.empty() ? cwd / "Cargo.toml" : manifest_path;
  const bool maturin_checks = options.maturin_checks;
  fs::path project_root = job.project.root;
  auto state = std::make_shared<CargoState>();
  state->units.emplace(job.work_dir);
  BuildSession* s = session.get();

  auto on_line = [s, state, crate_dir, project_root](StreamKind kind, const std::string& line) {
    if (kind == StreamKind::err) {
      s->log(line);
      state->plain.feed(line);
      std::string_view text = trim(line);
      // Display only: cargo's status lines ("Compiling pyo3 v0.17.3") as progress.
      if (text.substr(0, 10) == "Compiling " || text.substr(0, 9) == "Finished ") {
        state->status = std::string(text);
        state->report(s, state->status);
      }
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
      if (auto d = diagnostic_from_cargo_message(msg, project_root)) {
        state->json_errors += d->severity == "error";
        s->add_diagnostic(std::move(*d));
      }
    } else if (reason == "build-script-executed") {
      if (msg.contains("package_id") && msg["package_id"].is_string() && msg.contains("out_dir") && msg["out_dir"].is_string())
        state->out_dirs[msg["package_id"].get<std::string>()] = msg["out_dir"].get<std::string>();
    } else if (reason == "compiler-artifact") {
      const auto& target = msg["target"];
      state->fraction = state->units->artifact();  // fresh units count too
      if (state->fraction)
        state->report(s, !state->status.empty() ? state->status
                                                : "Built " + (target.is_object() ? target.value("name", std::string("a crate")) : "a crate"));
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

  auto next = [s, state, module_name, manifest, maturin_checks, includes = options.out_dir_includes](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) return fail_cargo(s, *state, "cargo build", manifest, exit);
    state->units->remember();  // cargo built the whole graph: the next build's total
    std::optional<fs::path> file = state->cdylib ? state->cdylib : state->other_cdylib;
    if (!file) return s->fail("cargo built no cdylib; set crate-type = [\"cdylib\"] in Cargo.toml's [lib]");
    if (maturin_checks)
      if (auto refusal = links_libpython(*file); !refusal.empty()) return s->fail(refusal);
    s->output().artifacts.push_back(Artifact{module_name, *file, {}});
    // maturin's include from = "out-dir": what the build script wrote, at `to` in the generation;
    // nothing there is a warning, as in maturin.
    for (const auto& include : includes) {
      auto out_dir = state->out_dirs.find(include.package_id);
      auto files = out_dir == state->out_dirs.end() ? decltype(out_dir_files({}, {}, {})){} : out_dir_files(out_dir->second, include.glob, include.to);
      if (files.empty())
        s->log("warning: [tool.maturin] include \"" + include.glob + "\" from out-dir matched no file" +
               (out_dir == state->out_dirs.end() ? " (" + include.crate_name + " ran no build script)" : " in " + out_dir->second.string()));
      for (auto& f : files) s->output().extra_files.push_back(std::move(f));
    }
    s->succeed();
  };

  // As maturin: PYO3_BUILD_EXTENSION_MODULE is what PyO3 0.26 and later read in place of the
  // (deprecated) extension-module feature to leave libpython unlinked; older PyO3 ignores it.
  session->run_tool("cargo", std::move(args), cwd,
                    {{"PYO3_PYTHON", job.python.executable.string()}, {"PYO3_BUILD_EXTENSION_MODULE", "1"}}, std::move(on_line),
                    std::move(next));
}

void run_cargo_metadata(const std::shared_ptr<BuildSession>& session, const fs::path& cwd, const fs::path& manifest_path,
                        const std::vector<std::string>& extra_args,
                        std::function<void(std::optional<CargoMetadata>)> next) {
  std::vector<std::string> args = {"metadata", "--format-version", "1", "--manifest-path", manifest_path.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto state = std::make_shared<CargoState>();
  auto out = std::make_shared<std::string>();
  BuildSession* s = session.get();
  auto on_line = [s, state, out](StreamKind kind, const std::string& line) {
    if (kind == StreamKind::out) return void(*out += line);  // one JSON document
    s->log(line);
    state->plain.feed(line);
  };
  auto after = [s, state, out, manifest_path, next = std::move(next)](const ProcessExit& exit) {
    if (exit.signaled || exit.exit_code != 0) return fail_cargo(s, *state, "cargo metadata", manifest_path, exit);
    std::optional<CargoMetadata> metadata;
    try {
      metadata = parse_cargo_metadata(nlohmann::json::parse(*out, nullptr, false));
    } catch (const std::exception& e) {
      s->log(std::string("prestage: cargo metadata's output is unreadable: ") + e.what());
    }
    out->clear();
    next(std::move(metadata));
  };
  session->run_tool("cargo", std::move(args), cwd, {{"PYO3_PYTHON", session->job().python.executable.string()}}, std::move(on_line),
                    std::move(after));
}
}  // namespace prestage::builders
