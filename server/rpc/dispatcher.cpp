#include "rpc/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "util/json_depth.hpp"
#include "util/thread_check.hpp"

namespace prestage::rpc {
using nlohmann::json;

struct Responder::State {
  json id;
  bool is_notification = false;
  Complete complete;
  bool replied = false;  // io thread only (checked), like every handler and reply

  // Claims the single reply; the callback to send it through, or null when already replied.
  Complete claim() {
    util::assert_on_io("Responder reply");
    if (replied) return nullptr;
    replied = true;
    return std::move(complete);
  }

  // The text is made before the reply is claimed: if serializing throws (say, invalid UTF-8), the
  // handler's caller can still fail the call.
  template <class MakeText>
  void finish(MakeText make_text) {
    if (is_notification) {
      if (Complete callback = claim()) callback(std::nullopt);
      return;
    }
    std::string text = make_text();
    if (Complete callback = claim()) callback(std::move(text));
  }

  ~State() {
    if (replied) return;
    try {
      finish([this] { return Dispatcher::error_reply(id, Error{codes::internal_error, "handler did not reply", nullptr}).dump(); });
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

void Responder::ok(json result) {
  state_->finish([&] { return Dispatcher::result_reply(state_->id, std::move(result)).dump(); });
}

void Responder::ok_serialized(std::string_view result_json) {
  state_->finish([&] { return Dispatcher::result_reply_text(state_->id, result_json); });
}

void Responder::fail(Error e) {
  state_->finish([&] { return Dispatcher::error_reply(state_->id, e).dump(); });
}

bool Responder::replied() const {
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

std::string Dispatcher::result_reply_text(const json& id, std::string_view result_json) {
  // Same text as result_reply(id, result).dump(): keys in nlohmann's (sorted) order, no spaces.
  const std::string id_text = id.dump();
  std::string text;
  text.reserve(id_text.size() + result_json.size() + 32);
  text.append(R"({"id":)").append(id_text).append(R"(,"jsonrpc":"2.0","result":)").append(result_json).push_back('}');
  return text;
}

std::string Dispatcher::notification_text(std::string_view method, const json& params) {
  return json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}}.dump();
}

void Dispatcher::add(std::string method, Handler handler) { handlers_[std::move(method)] = std::move(handler); }

bool Dispatcher::has(std::string_view method) const { return handlers_.find(method) != handlers_.end(); }

void Dispatcher::handle_one(const json& request, CallContext& ctx, Responder::Complete complete) {
  auto invalid = [&](std::string message) {
    complete(error_reply(nullptr, Error{codes::invalid_request, std::move(message), nullptr}).dump());
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
    return complete(error_reply(id, Error{codes::invalid_request, "invalid request: \"method\" must be a string", nullptr}).dump());
  auto params_it = request.find("params");
  if (params_it != request.end() && !params_it->is_object() && !params_it->is_array())
    return complete(error_reply(id, Error{codes::invalid_request, "invalid request: \"params\" must be an object or an array", nullptr}).dump());

  const std::string& method = method_it->get_ref<const std::string&>();
  Responder reply(id, is_notification, std::move(complete));
  auto handler = handlers_.find(method);
  if (handler == handlers_.end()) {
    reply.fail(Error{codes::method_not_found, "method not found: " + method, nullptr});
    return;
  }
  static const json no_params = json::object();
  const json& params = params_it == request.end() ? no_params : *params_it;
  try {
    handler->second(params, ctx, reply);
  } catch (const RpcException& e) {
    reply.fail(e.error());
  } catch (const std::exception& e) {
    spdlog::error("rpc: {} threw: {}", method, e.what());
    reply.fail(Error{codes::internal_error, "internal error in " + method + ": " + e.what(), nullptr});
  } catch (...) {
    spdlog::error("rpc: {} threw a non-standard exception", method);
    reply.fail(Error{codes::internal_error, "internal error in " + method, nullptr});
  }
}

namespace {
// Collects the replies of a batch; fires `done` when the last element completes.
struct BatchCollector {  // io thread only, as the replies it collects
  std::vector<std::optional<std::string>> replies;
  std::size_t pending = 0;
  std::function<void(std::optional<std::string>)> done;

  void complete(std::size_t index, std::optional<std::string> reply) {
    std::function<void(std::optional<std::string>)> callback;
    std::string array;
    {
      replies[index] = std::move(reply);
      if (--pending != 0) return;
      for (auto& r : replies) {
        if (!r) continue;
        array += array.empty() ? '[' : ',';
        array += *r;
      }
      callback = std::move(done);
    }
    if (array.empty()) return callback(std::nullopt);
    array += ']';
    callback(std::move(array));
  }
};
}  // namespace

void Dispatcher::handle(std::string_view body, CallContext ctx, std::function<void(std::optional<std::string>)> done) {
  if (util::json_nesting_exceeds(body, kMaxJsonDepth)) {
    done(error_reply(nullptr, Error{codes::invalid_request, "invalid request: JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", nullptr}).dump());
    return;
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    done(error_reply(nullptr, Error{codes::parse_error, "parse error: the body is not valid JSON", nullptr}).dump());
    return;
  }
  if (!parsed.is_array()) {
    handle_one(parsed, ctx, std::move(done));
    return;
  }
  if (parsed.empty()) {
    done(error_reply(nullptr, Error{codes::invalid_request, "invalid request: empty batch", nullptr}).dump());
    return;
  }
  auto batch = std::make_shared<BatchCollector>();
  batch->replies.resize(parsed.size());
  batch->pending = parsed.size();
  batch->done = std::move(done);
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    handle_one(parsed[i], ctx, [batch, i](std::optional<std::string> reply) { batch->complete(i, std::move(reply)); });
  }
}
}  // namespace prestage::rpc
