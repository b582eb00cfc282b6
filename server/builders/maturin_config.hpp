#pragma once
// maturin's configuration, typed: [tool.maturin] in pyproject.toml and the legacy
// [package.metadata.maturin] in Cargo.toml (docs/backends/maturin.md lists what is honoured).
// Pure functions over parsed TOML: they run on whichever thread calls them.
#include <toml++/toml.h>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace prestage::builders {
namespace fs = std::filesystem;

// A maturin option prestage cannot honour, or a value of the wrong type; the message names the
// file and the key.
class MaturinConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One `include` / `exclude` entry: "glob" or { path = "glob", format = "wheel" | "sdist" | [..] },
// or an include of build-script output: { path = "glob", from = "out-dir", to = "pkg/", crate-name = "x" }.
struct MaturinGlob {
  std::string path;
  bool wheel = true;  // applies to wheels (and so to what `maturin develop` installs)
  bool sdist = true;
  bool from_out_dir = false;  // `path` is relative to the crate's OUT_DIR (wheel only)
  std::string to;             // from_out_dir: the directory inside the wheel ("" = its root)
  std::string crate_name;     // from_out_dir: whose OUT_DIR ("" = the extension crate's)
};

// A `features` entry { feature = "pyo3/abi3-py311", python-version = ">=3.11" }: on only for a
// target Python the PEP 440 specifier admits.
struct ConditionalFeature {
  std::string feature, python_version;
};

// [tool.maturin]. Paths are as written (relative to the pyproject's directory).
struct ToolMaturin {
  std::optional<std::string> manifest_path, module_name, python_source, data, bindings;
  std::optional<std::string> profile, editable_profile;
  std::vector<std::string> python_packages, features, config;
  std::vector<ConditionalFeature> conditional_features;
  bool all_features = false, no_default_features = false, locked = false, frozen = false;
  std::vector<MaturinGlob> include, exclude;
};

// Whether Python `version` ("3.11" or "3.11.7"; compared as major.minor, as maturin compares the
// interpreter) satisfies a PEP 440 specifier set such as ">=3.9, <3.12", "==3.11.*" or "~=3.10".
// MaturinConfigError(what + ...) for a clause it cannot read.
bool python_version_matches(std::string_view specifier, std::string_view version, const std::string& what);

// [package.metadata.maturin] (maturin < 0.14 spelling). Paths are relative to Cargo.toml's directory.
struct LegacyMaturin {
  std::optional<std::string> name;  // used as the module name only when it has a dot (as maturin)
  std::optional<std::string> python_source, data;
};

// `pyproject` may be null (no pyproject.toml). Throws MaturinConfigError for unknown or refused keys
// (rustc-args, unstable-flags, targets, target-config), wrong types and bindings other than pyo3/pyo3-ffi.
ToolMaturin parse_tool_maturin(const toml::table* pyproject, const fs::path& pyproject_file);

// `cargo` may be null. Throws MaturinConfigError for the metadata keys maturin 0.14 removed.
LegacyMaturin parse_legacy_maturin(const toml::table* cargo, const fs::path& cargo_file);
}  // namespace prestage::builders
