#include "rpc/params.hpp"

#include <algorithm>

namespace prestage::rpc {
ParamReader::ParamReader(const nlohmann::json& params, std::string path) : params_(params), path_(std::move(path)) {
  if (!params_.is_object()) throw InvalidParams(path_ + " must be an object");
}

std::string ParamReader::name(std::string_view field) const { return path_ + "." + std::string(field); }

const nlohmann::json* ParamReader::get(std::string_view field) const {
  auto it = params_.find(field);
  if (it == params_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool ParamReader::has(std::string_view field) const { return get(field) != nullptr; }

std::string ParamReader::string(std::string_view field) const {
  auto value = optional_string(field);
  if (!value) throw InvalidParams("missing required field " + name(field) + " (a string)");
  if (value->empty()) throw InvalidParams(name(field) + " must not be empty");
  return *value;
}

std::optional<std::string> ParamReader::optional_string(std::string_view field) const {
  const auto* v = get(field);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw InvalidParams(name(field) + " must be a string, got " + v->type_name());
  return v->get<std::string>();
}

std::int64_t ParamReader::integer(std::string_view field) const {
  auto value = optional_integer(field);
  if (!value) throw InvalidParams("missing required field " + name(field) + " (an integer)");
  return *value;
}

std::optional<std::int64_t> ParamReader::optional_integer(std::string_view field) const {
  const auto* v = get(field);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw InvalidParams(name(field) + " must be an integer, got " + v->type_name());
  return v->get<std::int64_t>();
}

std::optional<bool> ParamReader::optional_bool(std::string_view field) const {
  const auto* v = get(field);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw InvalidParams(name(field) + " must be a boolean, got " + v->type_name());
  return v->get<bool>();
}

std::chrono::milliseconds ParamReader::optional_wait(std::string_view field, std::chrono::seconds if_true,
                                                    std::chrono::seconds max) const {
  const auto* v = get(field);
  if (!v) return std::chrono::milliseconds::zero();
  if (v->is_boolean()) return v->get<bool>() ? std::chrono::milliseconds(if_true) : std::chrono::milliseconds::zero();
  if (!v->is_number() || v->get<double>() < 0)
    throw InvalidParams(name(field) + " must be a boolean or a non-negative number of seconds");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(v->get<double>(), double(max.count())) * 1000));
}

ParamReader ParamReader::object(std::string_view field) const {
  const auto* v = get(field);
  if (!v) throw InvalidParams("missing required field " + name(field) + " (an object)");
  if (!v->is_object()) throw InvalidParams(name(field) + " must be an object, got " + v->type_name());
  return ParamReader(*v, name(field));
}
}  // namespace prestage::rpc
