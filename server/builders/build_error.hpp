#pragma once
#include <stdexcept>

namespace prestage::builders {
// A problem with the build's inputs (bad interpreter path, ...); the message names it.
struct BuildError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace prestage::builders
