#pragma once
#include <cstddef>
#include <string_view>

namespace prestage::util {
// True when the JSON text nests arrays/objects deeper than `max_depth`.
// A linear scan that understands strings and escapes, so it never recurses.
bool json_nesting_exceeds(std::string_view text, std::size_t max_depth);
}  // namespace prestage::util
