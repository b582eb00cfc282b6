#pragma once
#include <stdexcept>

namespace prestage::build {
// A problem with the build's inputs (bad interpreter path, ...); the message names it.
struct BuildError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace prestage::build
