#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "rpc/error_codes.hpp"  // generated from schemas/error-codes.json: codes::parse_error ... codes::not_built

namespace prestage::rpc {
// Deepest JSON nesting the daemon accepts.
inline constexpr std::size_t kMaxJsonDepth = 64;

struct Error {
  int code = codes::internal_error;
  std::string message;
  nlohmann::json data = nullptr;  // omitted from the reply when null
};

// Thrown by a handler to fail with a specific JSON-RPC error.
class RpcException : public std::runtime_error {
 public:
  explicit RpcException(Error e) : std::runtime_error(e.message), error_(std::move(e)) {}
  const Error& error() const { return error_; }

 private:
  Error error_;
};

// Thrown for bad params; the dispatcher answers -32602 with this message (which names the field).
class InvalidParams : public RpcException {
 public:
  explicit InvalidParams(std::string message) : RpcException(Error{codes::invalid_params, std::move(message), nullptr}) {}
};
}  // namespace prestage::rpc
