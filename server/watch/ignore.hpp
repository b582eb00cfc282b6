#pragma once
// Which directories and files never count as project sources.
#include <filesystem>
#include <string_view>
#include <vector>

namespace prestage::watch {
namespace fs = std::filesystem;

// Build outputs, VCS metadata, caches and virtualenvs:
// target, .git, .hg, .svn, __pycache__, build, build-*, _skbuild, node_modules, .venv, venv, .tox, .nox,
// .mypy_cache, .pytest_cache, .ruff_cache, .idea, .vscode, dist, *.egg-info
bool is_ignored_dir(std::string_view name);

// Editor temp/backup files (vim swap and 4913 probe, foo~, .#foo, #foo#, JetBrains ___jb_tmp___/___jb_old___)
// and compiled outputs (*.pyc, *.pyo, *.so, *.pyd, *.o).
bool is_ignored_file(std::string_view name);

// .py / .pyi
bool is_python_source(const fs::path& path);

// True when `path` equals one of `ignored_paths` or lies under it (both compared lexically, absolute).
bool is_under_any(const fs::path& path, const std::vector<fs::path>& ignored_paths);

// Absolute, lexically normal form without a trailing separator.
fs::path normalize(const fs::path& path);
}  // namespace prestage::watch
