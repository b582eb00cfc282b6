#pragma once
// `cargo build --lib --message-format=json` for the cargo and rust-file backends: diagnostics from
// cargo's JSON, the cdylib from its compiler-artifact message. Runs on the build's io thread.
#include <filesystem>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "builders/build_session.hpp"
#include "builders/cargo_metadata.hpp"
#include "builders/cargo_out_dir.hpp"

namespace prestage::builders {

struct CargoOptions {
  std::string profile = "dev";         // "dev", "release" or a custom profile
  std::vector<std::string> extra_args;  // --features ... (MaturinProject::cargo_args)
  bool maturin_checks = false;          // refuse a cdylib that links libpython, as maturin does
  std::vector<OutDirInclude> out_dir_includes;  // build-script output to stage (output.extra_files)
};

// Builds the crate in `cwd` (or the one at `manifest_path` when not empty) into
// job.work_dir/target, and succeeds with one artifact: the crate's cdylib as `module_name`.
// On failure, cargo's own `error:` blocks (resolution, lock file, manifest) become diagnostics and
// the summary when rustc reported no error of its own.
void run_cargo(const std::shared_ptr<BuildSession>& session, const fs::path& cwd, const fs::path& manifest_path,
               const std::string& module_name, const CargoOptions& options);

// Runs `cargo metadata` for `manifest_path` with `extra_args` (non-blocking, on the session), then
// `next` with the parsed metadata (nullopt when its output was unreadable). A failed cargo run
// fails the build with cargo's error lines.
void run_cargo_metadata(const std::shared_ptr<BuildSession>& session, const fs::path& cwd, const fs::path& manifest_path,
                        const std::vector<std::string>& extra_args,
                        std::function<void(std::optional<CargoMetadata>)> next);
}  // namespace prestage::builders
