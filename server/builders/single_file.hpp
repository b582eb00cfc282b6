#pragma once
// What the two single-file backends (name.cpp, name.rs) share: the claim and the layout.
#include <string_view>

#include "builders/build.hpp"
#include "builders/interpreter.hpp"
#include "builders/project_files.hpp"
#include "stage/generation_store.hpp"

namespace prestage::builders {

// Claims a single source file with extension `ext` (".rs", ".cpp"): its stem is the module.
bool claim_single_file(const ProjectFiles& files, std::string_view ext, ProjectKind kind, ProjectInfo& info);

// The generation holds just the built extension (the file's directory has any Python around it).
stage::PackageLayout single_file_layout(const BuildOutput& output, const Interpreter& python);
}  // namespace prestage::builders
