#include "builders/backends.hpp"

namespace prestage::builders {

const std::vector<const BuildBackend*>& default_backends() {
  static const std::vector<const BuildBackend*> all = {&cpp_file_backend(), &rust_file_backend(), &cargo_backend(),
                                                       &meson_backend(), &cmake_backend(), &setuptools_backend()};
  return all;
}

const BuildBackend& backend_for(ProjectKind kind) {
  for (const BuildBackend* backend : default_backends())
    if (backend->kind() == kind) return *backend;
  return cmake_backend();  // unreachable: every ProjectKind has a backend
}
}  // namespace prestage::builders
