#pragma once
// [tool.scikit-build] as scikit-build-core reads it for an editable build: overrides applied,
// every key typed and checked. A bad or unsupported key throws BuildError naming the key.
// Pure functions of their inputs (the pyproject table and the facts overrides test); any thread.
#include <toml++/toml.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prestage::builders {
namespace fs = std::filesystem;

// What `[[tool.scikit-build.overrides]]` conditions are tested against.
struct SkbuildFacts {
  std::string state = "editable";          // if.state (prestage always builds for development)
  std::string python_version;              // "3.11.2" (if.python-version compares major.minor)
  std::string implementation_name = "cpython";
  std::string platform_system = "linux";   // sys.platform
  std::string platform_machine;            // platform.machine()
  std::string platform_node;               // platform.node()
  std::string cmake_version;               // for if.system-cmake; empty when unknown
  std::function<std::optional<std::string>(const std::string&)> getenv;  // if.env, cmake.define {env=...}
};

// One [[tool.scikit-build.generate]] entry.
struct GenerateEntry {
  std::string path;              // relative to the location's base
  std::string template_text;     // string.Template text ($name / ${name})
  fs::path template_path;        // absolute; used when template_text is empty
  std::string location = "install";  // "install" (platlib), "build" (CMake build dir) or "source"
};

// metadata.version.provider = "scikit_build_core.metadata.regex"
struct RegexVersionProvider {
  fs::path input;      // absolute
  std::string regex;   // Python syntax
  std::string result = "{value}";
  std::string remove;  // a regex whose matches are removed from the result
};

enum class SkbuildBackend { native, setuptools, hatch };

struct SkbuildConfig {
  SkbuildBackend backend = SkbuildBackend::native;
  std::string project_name;     // [project] name as written
  std::string static_version;   // [project] version, empty when dynamic
  std::optional<RegexVersionProvider> version_provider;

  fs::path source_dir;                                      // absolute (cmake.source-dir)
  std::vector<std::pair<std::string, std::string>> defines; // rendered: bools as TRUE/FALSE, lists joined by ';'
  std::vector<std::string> args;                            // cmake.args
  std::string build_type = "Release";
  std::string cmake_version_spec;                           // e.g. ">=3.15"; empty: no check
  std::string ninja_version_spec = ">=1.5";
  bool python_hints = true;
  bool search_site_packages = true;
  std::string backport_find_python = "3.26.1";

  std::vector<std::string> build_targets;
  bool build_verbose = false;
  std::vector<std::string> build_tool_args;
  std::vector<std::string> install_components;
  bool install_strip = true;

  // wheel.packages: (destination relpath in the platlib, source dir); nullopt = auto-discover.
  std::optional<std::vector<std::pair<std::string, std::string>>> packages;
  std::string py_api;           // "", "cp39", "py3", ...
  std::string install_dir;      // relative to the platlib; never absolute, never ".."
  std::vector<std::string> exclude;  // wheel.exclude (gitignore-style, matched on the wheel path)
  std::vector<std::pair<std::string, std::string>> env;  // tool.scikit-build.env
  std::vector<GenerateEntry> generate;
  bool experimental = false;
  std::vector<std::string> notes;  // keys accepted but without effect under prestage (logged at configure)
};

// Reads the settings for the project at `root` (canonical). `pyproject` is the parsed
// pyproject.toml. Throws BuildError: "<root>/pyproject.toml: tool.scikit-build.<key>: <problem>".
SkbuildConfig read_skbuild_config(const fs::path& root, const toml::table& pyproject, const SkbuildFacts& facts);

// PEP 440 specifier set ("" matches everything; ">=3.15,!=3.18.0", "==3.*", "~=3.10").
// Pre-release and local parts are ignored. Throws BuildError for a malformed specifier.
bool version_matches(std::string_view version, std::string_view specifier_set);

// The regex provider's answer for `text` (the input file's content); throws BuildError.
std::string run_regex_provider(const RegexVersionProvider& provider, const std::string& text);

// string.Template substitution ($name, ${name}, $$); an unknown name throws BuildError.
std::string substitute_template(std::string_view text, const std::vector<std::pair<std::string, std::string>>& values,
                                std::string_view what);
}  // namespace prestage::builders
