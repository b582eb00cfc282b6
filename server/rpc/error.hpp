#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace prestage::rpc {
// Error codes from docs/protocol.md.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kBuildFailed = -32001;
inline constexpr int kBuildTimeout = -32002;
inline constexpr int kNoGeneration = -32003;

// Deepest JSON nesting the daemon accepts.
inline constexpr std::size_t kMaxJsonDepth = 64;

struct Error {
  int code = kInternalError;
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
  explicit InvalidParams(std::string message) : RpcException(Error{kInvalidParams, std::move(message), nullptr}) {}
};
}  // namespace prestage::rpc
