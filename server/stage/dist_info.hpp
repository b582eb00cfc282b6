#pragma once
// The `.dist-info` directory a generation holds for a Python project, so importlib.metadata finds
// the project's version, metadata and entry points in the generation (as after `pip install -e .`).
// Pure text rendering: values in, file contents out; any thread.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prestage::stage {

// Core metadata of one distribution (https://packaging.python.org/specifications/core-metadata/),
// as a build backend would write it into METADATA, plus its entry points.
struct Distribution {
  std::string name;     // as the project spells it ([project].name); normalized only for the dir name
  std::string version;  // required by publish(); a backend fills it when version_dynamic
  bool version_dynamic = false;  // [project].dynamic lists "version": the backend must provide it
  std::string summary;           // Summary ([project].description)
  std::string requires_python;   // Requires-Python, e.g. ">=3.9"
  std::vector<std::string> requires_dist;   // Requires-Dist, PEP 508, extras as `; extra == "x"` markers
  std::vector<std::string> provides_extra;  // Provides-Extra, normalized extra names
  std::string license;                      // License (the text form)
  std::string license_expression;           // License-Expression (PEP 639 SPDX form)
  std::vector<std::string> keywords;        // Keywords (written comma-separated)
  std::vector<std::string> classifiers;     // Classifier, one each
  std::string author, author_email, maintainer, maintainer_email;  // already joined "A, B" / "A <a@x>, b@y"
  std::vector<std::pair<std::string, std::string>> project_urls;  // Project-URL: (label, url), in order
  std::string description;                  // the long description (README text), the METADATA body
  std::string description_content_type;     // e.g. "text/markdown"
  std::vector<std::string> dynamic;          // Dynamic: fields a backend computes (core-metadata names)
  // entry_points.txt: group -> (name, value) in the project's order, e.g.
  // "console_scripts" -> {("pkg-cli", "pkg.cli:main")}; also gui_scripts and any [project.entry-points.*].
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> entry_points;
  std::filesystem::path source_root;  // the project root, for direct_url.json (PEP 610); empty: no file
};

// PEP 503: lowercase, each run of '-', '_' and '.' becomes one '-' ("My__Pkg.x" -> "my-pkg-x").
std::string normalize_distribution_name(std::string_view name);
// The dir name as wheels write it (binary distribution format): name normalized with '_' for the
// runs, version with '-' as '_': ("My-Pkg", "1.0") -> "my_pkg-1.0.dist-info".
std::string dist_info_dir_name(const Distribution& d);

std::string metadata_text(const Distribution& d);      // METADATA, Metadata-Version 2.1
std::string entry_points_text(const Distribution& d);  // entry_points.txt; "" when there are none
std::string installer_text();                          // INSTALLER: "prestage\n"
std::string direct_url_json(const std::filesystem::path& root);  // {"url": "file:///root", "dir_info": {"editable": true}}
std::string file_url(const std::filesystem::path& absolute);     // RFC 8089 file URL, percent-encoded

// The dist-info files except RECORD, as (relpath under the generation, content): METADATA,
// INSTALLER, entry_points.txt (when there are entry points), direct_url.json (when source_root is set).
// Throws std::invalid_argument when name or version is empty or not usable in a dir name.
std::vector<std::pair<std::string, std::string>> dist_info_files(const Distribution& d);

struct RecordEntry {
  std::string path;        // relpath under the generation, '/'-separated
  std::string sha256_hex;  // lowercase hex of the file's SHA-256
  std::uint64_t size = 0;
};
// RECORD as wheels write it: one CSV row per file, `path,sha256=<urlsafe base64, no padding>,size`,
// and RECORD's own row `<dist-info>/RECORD,,`. Rows in the given order.
std::string record_text(const std::vector<RecordEntry>& files, const std::string& dist_info_dir);
// "e3b0..." -> "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
std::string urlsafe_b64_of_hex(std::string_view hex);
}  // namespace prestage::stage
