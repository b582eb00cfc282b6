#pragma once
// Typed access to a request's params for handlers; every failure throws InvalidParams naming the field.
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "rpc/error.hpp"

namespace prestage::rpc {
class ParamReader {
 public:
  // `params` must be an object (absent params arrive as {}); `path` prefixes field names in messages.
  explicit ParamReader(const nlohmann::json& params, std::string path = "params");

  bool has(std::string_view field) const;
  std::string string(std::string_view field) const;  // required, non-empty
  std::optional<std::string> optional_string(std::string_view field) const;
  std::int64_t integer(std::string_view field) const;
  std::optional<std::int64_t> optional_integer(std::string_view field) const;
  std::optional<bool> optional_bool(std::string_view field) const;
  // A wait budget: absent/null/false -> 0, true -> `if_true`, a non-negative number of seconds (capped at `max`).
  std::chrono::milliseconds optional_wait(std::string_view field, std::chrono::seconds if_true, std::chrono::seconds max) const;
  ParamReader object(std::string_view field) const;  // required nested object
  const nlohmann::json& raw() const { return params_; }

 private:
  std::string name(std::string_view field) const;
  const nlohmann::json* get(std::string_view field) const;  // null when absent or JSON null

  const nlohmann::json& params_;
  std::string path_;
};
}  // namespace prestage::rpc
