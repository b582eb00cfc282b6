#pragma once
// Detection for cargo projects built as maturin builds them (docs/backends/maturin.md): which
// crate, which modules; and which directories outside the root the build depends on.
#include <filesystem>
#include <vector>

#include "builders/maturin_project.hpp"
#include "projects/project.hpp"

namespace prestage::builders {

// Fills info's cargo fields for the project at info.root (kind, modules, extension_module,
// python_source, cargo_profile, cargo_manifest). Reads TOML files only: any thread. For a virtual
// workspace it reads the members' manifests ([workspace] members / exclude, globs included) for the
// one PyO3 cdylib; `cargo metadata` checks the build at build time. Throws MaturinConfigError naming
// the file and key for bad input, or saying how to open a workspace with several extension members.
void claim_cargo_project(ProjectInfo& info);

// The maturin view of a claimed project, re-read from its pyproject.toml / Cargo.toml (no cargo run:
// any thread). The build and the layout call it, so an edit to either file applies to the next build.
MaturinProject maturin_project_of(const ProjectInfo& info);

// Every local package cargo would rebuild for (path dependencies anywhere, workspace members) that
// lies outside info.root, from `cargo metadata --offline` (the full resolve; the declared path
// dependencies with --no-deps when that fails). BLOCKS: runs cargo; never on the io thread.
std::vector<fs::path> cargo_watch_roots_blocking(const ProjectInfo& info);

// The same for any crate of the project (a setuptools-rust extension's manifest). BLOCKS.
std::vector<fs::path> cargo_dirs_outside_root(const ProjectInfo& info, const fs::path& manifest, const std::vector<std::string>& cargo_args);
}  // namespace prestage::builders
