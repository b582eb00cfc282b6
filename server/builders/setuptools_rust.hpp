#pragma once
// setuptools-rust projects (setup.py's RustExtension / rust_extensions, or pyproject.toml's
// [tool.setuptools-rust]), read from their files alone: what detection and watching need. The
// build itself is setuptools-rust's build_rust under the setuptools driver (setuptools_driver.py).
#include <string>
#include <vector>

#include "builders/project_files.hpp"

namespace prestage::builders {

// True when the project declares Rust extensions: setup.py mentions RustExtension / rust_extensions
// / setuptools_rust, or pyproject.toml has a [tool.setuptools-rust] table.
bool declares_rust_extensions(const ProjectFiles& files);

// The dotted targets of [[tool.setuptools-rust.ext-modules]] (setup.py's RustExtension names are
// found with its other Extension names).
std::vector<std::string> pyproject_rust_targets(const ProjectFiles& files);

// The Cargo manifests the project builds, as far as its files name them: the `path` of each
// [[tool.setuptools-rust.ext-modules]] (default Cargo.toml), the "....Cargo.toml" strings in setup.py,
// and ./Cargo.toml. Only those that exist, each once.
std::vector<fs::path> rust_manifests(const ProjectFiles& files);
}  // namespace prestage::builders
