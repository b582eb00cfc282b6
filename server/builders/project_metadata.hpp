#pragma once
// PEP 621 `[project]` of a pyproject.toml -> the stage::Distribution a generation's .dist-info holds.
// Pure parsing (no build state): runs on the pool thread that computes a backend's layout().
#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <string>

#include "builders/project_files.hpp"
#include "stage/dist_info.hpp"
#include "stage/generation_store.hpp"

namespace prestage::builders {

// The [project] table of `pyproject` (a parsed pyproject.toml; `file` names it in errors and locates
// `readme` / `license.file`): name, version (or version_dynamic when `dynamic` lists "version" and no
// version is given), description, readme, requires-python, license, authors, maintainers, keywords,
// classifiers, urls, dependencies, optional-dependencies (Provides-Extra + Requires-Dist with
// `extra == "x"` markers), scripts, gui-scripts, entry-points. nullopt when there is no [project] table.
// A key of the wrong type, a missing name or version, or an unreadable readme throws BuildError naming
// the key and the file. source_root is the file's directory. `version_from_cargo` (maturin): a
// version neither given nor dynamic is not an error but dynamic, filled from Cargo.toml (maturin
// warns and builds).
std::optional<stage::Distribution> project_distribution(const toml::table& pyproject, const std::filesystem::path& file,
                                                        bool version_from_cargo = false);

// The same read from <root>/pyproject.toml; nullopt when the file or its [project] table is absent.
// A broken file throws BuildError with the line and column.
std::optional<stage::Distribution> read_project_distribution(const std::filesystem::path& root, bool version_from_cargo = false);

// The distribution name detection reports (project/list `distribution`): [project].name, else for
// cargo [package].name; "" for single files and projects without one. ProjectError for a non-string name.
std::string distribution_name(const ProjectFiles& files, ProjectKind kind);

// Cargo.toml's [package] as maturin reads it when pyproject.toml has no [project] table: name,
// version, description. nullopt without [package].name. `version.workspace = true` leaves version "".
std::optional<stage::Distribution> cargo_package_distribution(const std::filesystem::path& cargo_toml);
// [package].version of a Cargo.toml, or "" when absent or inherited from the workspace.
std::string cargo_package_version(const std::filesystem::path& cargo_toml);

// The distribution a cmake / cargo project's generations hold (what layout() sets), with the
// backends' version fallbacks: cargo takes a dynamic version from Cargo.toml; anything still
// unknown is "0.0.0". nullopt for a project without metadata. Throws BuildError for bad metadata.
std::optional<stage::Distribution> python_distribution(const std::filesystem::path& root, bool cargo);

// What layout() calls: sets layout.distribution, or, for bad metadata, layout.error (publish() then
// refuses the layout with that message: a failed build naming the key, the previous generation stays).
void add_distribution(stage::PackageLayout& layout, const std::filesystem::path& root, bool cargo);
}  // namespace prestage::builders
