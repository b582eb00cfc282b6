#pragma once
// `cargo build --lib --message-format=json` for the cargo and rust-file backends: diagnostics from
// cargo's JSON, the cdylib from its compiler-artifact message. Runs on the build's io thread.
#include <filesystem>
#include <memory>
#include <string>

#include "builders/build_session.hpp"

namespace prestage::builders {

// Builds the crate in `cwd` (or the one at `manifest_path` when not empty) into
// job.work_dir/target with job.project.cargo_profile, and succeeds with one artifact: the
// crate's cdylib as `module_name`.
void run_cargo(const std::shared_ptr<BuildSession>& session, const fs::path& cwd, const fs::path& manifest_path,
               const std::string& module_name);
}  // namespace prestage::builders
