#include "rpc/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <vector>

#include "util/json_depth.hpp"

namespace prestage::rpc {
using nlohmann::json;

struct Responder::State {
  json id;
  bool is_notification = false;
  Complete complete;
  std::mutex mutex;
  bool replied = false;

  void finish(std::optional<json> reply) {
    Complete callback;
    {
      std::lock_guard lock(mutex);
      if (replied) return;
      replied = true;
      callback = std::move(complete);
    }
    if (callback) callback(is_notification ? std::nullopt : std::move(reply));
  }

  ~State() {
    if (replied) return;
    try {
      finish(Dispatcher::error_reply(id, Error{kInternalError, "handler did not reply", nullptr}));
    } catch (const std::exception& e) {
      spdlog::error("rpc: failed to send the fallback reply: {}", e.what());
    }
  }
};

Responder::Responder(json id, bool is_notification, Complete complete) : state_(std::make_shared<State>()) {
  state_->id = std::move(id);
  state_->is_notification = is_notification;
  state_->complete = std::move(complete);
}

void Responder::ok(json result) { state_->finish(Dispatcher::result_reply(state_->id, std::move(result))); }

void Responder::fail(Error e) { state_->finish(Dispatcher::error_reply(state_->id, e)); }

bool Responder::replied() const {
  std::lock_guard lock(state_->mutex);
  return state_->replied;
}

json Dispatcher::error_reply(const json& id, const Error& e) {
  json error = {{"code", e.code}, {"message", e.message}};
  if (!e.data.is_null()) error["data"] = e.data;
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

json Dispatcher::result_reply(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

std::string Dispatcher::notification_text(std::string_view method, const json& params) {
  return json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}}.dump();
}

void Dispatcher::add(std::string method, Handler handler) { handlers_[std::move(method)] = std::move(handler); }

bool Dispatcher::has(std::string_view method) const { return handlers_.find(method) != handlers_.end(); }

void Dispatcher::handle_one(const json& request, CallContext& ctx, Responder::Complete complete) {
  auto invalid = [&](std::string message) {
    complete(error_reply(nullptr, Error{kInvalidRequest, std::move(message), nullptr}));
  };
  if (!request.is_object()) return invalid("invalid request: expected a JSON object");
  auto version = request.find("jsonrpc");
  if (version == request.end() || *version != "2.0") return invalid("invalid request: \"jsonrpc\" must be \"2.0\"");
  auto id_it = request.find("id");
  const bool is_notification = id_it == request.end();
  json id = is_notification ? json(nullptr) : *id_it;
  if (!is_notification && !(id.is_string() || id.is_number() || id.is_null()))
    return invalid("invalid request: \"id\" must be a string, a number or null");
  auto method_it = request.find("method");
  if (method_it == request.end() || !method_it->is_string())
    return complete(error_reply(id, Error{kInvalidRequest, "invalid request: \"method\" must be a string", nullptr}));
  auto params_it = request.find("params");
  if (params_it != request.end() && !params_it->is_object() && !params_it->is_array())
    return complete(error_reply(id, Error{kInvalidRequest, "invalid request: \"params\" must be an object or an array", nullptr}));

  const std::string& method = method_it->get_ref<const std::string&>();
  Responder reply(id, is_notification, std::move(complete));
  auto handler = handlers_.find(method);
  if (handler == handlers_.end()) {
    reply.fail(Error{kMethodNotFound, "method not found: " + method, nullptr});
    return;
  }
  const json params = params_it == request.end() ? json::object() : *params_it;
  try {
    handler->second(params, ctx, reply);
  } catch (const RpcException& e) {
    reply.fail(e.error());
  } catch (const std::exception& e) {
    spdlog::error("rpc: {} threw: {}", method, e.what());
    reply.fail(Error{kInternalError, "internal error in " + method + ": " + e.what(), nullptr});
  } catch (...) {
    spdlog::error("rpc: {} threw a non-standard exception", method);
    reply.fail(Error{kInternalError, "internal error in " + method, nullptr});
  }
}

namespace {
// Collects the replies of a batch; fires `done` when the last element completes.
struct BatchCollector {
  std::mutex mutex;
  std::vector<std::optional<json>> replies;
  std::size_t pending = 0;
  std::function<void(std::optional<std::string>)> done;

  void complete(std::size_t index, std::optional<json> reply) {
    std::function<void(std::optional<std::string>)> callback;
    json array = json::array();
    {
      std::lock_guard lock(mutex);
      replies[index] = std::move(reply);
      if (--pending != 0) return;
      for (auto& r : replies)
        if (r) array.push_back(std::move(*r));
      callback = std::move(done);
    }
    if (array.empty()) callback(std::nullopt);
    else callback(array.dump());
  }
};
}  // namespace

void Dispatcher::handle(std::string_view body, CallContext ctx, std::function<void(std::optional<std::string>)> done) {
  if (util::json_nesting_exceeds(body, kMaxJsonDepth)) {
    done(error_reply(nullptr, Error{kInvalidRequest, "invalid request: JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", nullptr}).dump());
    return;
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    done(error_reply(nullptr, Error{kParseError, "parse error: the body is not valid JSON", nullptr}).dump());
    return;
  }
  if (!parsed.is_array()) {
    auto shared_done = std::make_shared<std::function<void(std::optional<std::string>)>>(std::move(done));
    handle_one(parsed, ctx, [shared_done](std::optional<json> reply) {
      (*shared_done)(reply ? std::optional<std::string>(reply->dump()) : std::nullopt);
    });
    return;
  }
  if (parsed.empty()) {
    done(error_reply(nullptr, Error{kInvalidRequest, "invalid request: empty batch", nullptr}).dump());
    return;
  }
  auto batch = std::make_shared<BatchCollector>();
  batch->replies.resize(parsed.size());
  batch->pending = parsed.size();
  batch->done = std::move(done);
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    handle_one(parsed[i], ctx, [batch, i](std::optional<json> reply) { batch->complete(i, std::move(reply)); });
  }
}
}  // namespace prestage::rpc
