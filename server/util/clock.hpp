#pragma once
#include <chrono>
#include <string>

namespace prestage::util {
// UTC time as ISO 8601 with a trailing Z, to the second.
std::string iso8601_utc(std::chrono::system_clock::time_point t);
inline std::string now_iso8601() { return iso8601_utc(std::chrono::system_clock::now()); }
}  // namespace prestage::util
