#pragma once
// JSON-RPC 2.0 over any framing: parses a body (single or batch), validates it, calls handlers
// and assembles exactly one reply per call. Knows nothing about HTTP or WebSocket.
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "rpc/error.hpp"

namespace prestage::rpc {

// A connected WebSocket client that can receive server -> client messages.
class Peer {
 public:
  virtual ~Peer() = default;
  virtual void send_text(std::string text) = 0;  // thread-safe; queued, never more than one write in flight
  std::string client_id;  // set by `initialize`; empty before
};

struct CallContext {
  std::shared_ptr<Peer> peer;  // null for HTTP POST
  std::string client_id;       // the peer's client id (empty over HTTP unless the handler sets it)
};

// One-shot reply handle. Copyable (shared state). The first ok()/fail() wins; if every copy is
// destroyed without a reply, it replies -32603 "handler did not reply". Handlers may reply later.
class Responder {
 public:
  using Complete = std::function<void(std::optional<std::string> reply_text)>;  // nullopt for notifications
  Responder(nlohmann::json id, bool is_notification, Complete complete);
  void ok(nlohmann::json result);
  // `result_json` is the result already serialized (one valid JSON text); it is spliced into the reply as is.
  void ok_serialized(std::string_view result_json);
  void fail(Error e);
  bool replied() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

using Handler = std::function<void(const nlohmann::json& params, CallContext& ctx, Responder reply)>;

class Dispatcher {
 public:
  void add(std::string method, Handler handler);
  bool has(std::string_view method) const;

  // Parses one HTTP body / WS message (single or batch), validates (depth <= 64, jsonrpc == "2.0",
  // id types, params object/array) and dispatches. Calls `done` exactly once with the reply text,
  // or std::nullopt when there is nothing to send (notifications only). Handler exceptions -> -32603.
  void handle(std::string_view body, CallContext ctx, std::function<void(std::optional<std::string>)> done);

  // Builders for reply / notification texts.
  static nlohmann::json error_reply(const nlohmann::json& id, const Error& e);
  static nlohmann::json result_reply(const nlohmann::json& id, nlohmann::json result);
  // The text of result_reply(id, result) for a result given as JSON text.
  static std::string result_reply_text(const nlohmann::json& id, std::string_view result_json);
  static std::string notification_text(std::string_view method, const nlohmann::json& params);

 private:
  // Runs one request element; `complete` receives its reply object (nullopt for notifications).
  void handle_one(const nlohmann::json& request, CallContext& ctx, Responder::Complete complete);

  std::map<std::string, Handler, std::less<>> handlers_;
};
}  // namespace prestage::rpc
