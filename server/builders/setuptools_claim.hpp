#pragma once
// Detection of a setuptools project that builds extension modules, from its files alone (no
// interpreter runs at detection): the build backend, setup.py's text, [tool.setuptools].
#include <string>
#include <vector>

#include "builders/project_files.hpp"

namespace prestage::builders {

// True when pyproject's build-backend leaves the project to setuptools: absent, or
// setuptools.build_meta (also its :__legacy__ form).
bool builds_with_setuptools(const ProjectFiles& files);

// True when the project declares extension modules: setup.py mentions ext_modules, an Extension
// class (Extension, Pybind11Extension, ...) or cythonize, or pyproject.toml has
// [tool.setuptools] ext-modules. Pure-Python setuptools projects are false.
bool declares_extensions(const ProjectFiles& files);

// The top-level import names detection reports before the first build (the build's own answer,
// from setuptools, replaces them): the first part of each Extension("a.b", ...) name in setup.py
// and of each ext-modules name, the packages under src/ or the root, else [project] name.
std::vector<std::string> guessed_modules(const ProjectFiles& files);
}  // namespace prestage::builders
