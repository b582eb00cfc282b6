#include "transport/http_session.hpp"

#include <spdlog/spdlog.h>

#include "transport/request_guard.hpp"
#include "transport/websocket_session.hpp"

namespace prestage::transport {
namespace {
using Request = http::request<http::string_body>;

std::optional<std::string_view> single_field(const Request& req, http::field field, bool& duplicated) {
  if (req.count(field) > 1) duplicated = true;
  auto it = req.find(field);
  if (it == req.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}

std::string_view path_of(const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  return target.substr(0, target.find('?'));
}

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}
}  // namespace

HttpSession::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerShared> shared, bool over_capacity)
    : stream_(std::move(socket)), shared_(std::move(shared)), over_capacity_(over_capacity) {
  if (!over_capacity_) slot_.emplace(shared_);
}

void HttpSession::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->wait_for_request(); });
}

void HttpSession::stop() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::reading) self->close();
    else self->close_after_write_ = true;
  });
}

void HttpSession::wait_for_request() {
  if (shared_->stopping) return close();
  phase_ = Phase::reading;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(shared_->config.limits.header_max));
  parser_->body_limit(shared_->config.limits.body_max);
  if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
  // Idle keep-alive: wait for the first byte of the next request.
  stream_.expires_after(shared_->config.limits.idle_timeout);
  stream_.async_read_some(buffer_.prepare(4096), beast::bind_front_handler(&HttpSession::on_first_bytes, shared_from_this()));
}

void HttpSession::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec) return close();  // idle timeout, EOF or reset
  buffer_.commit(bytes);
  read_header();
}

void HttpSession::read_header() {
  // The whole request must arrive within request_timeout of its first byte (slowloris).
  deadline_ = std::chrono::steady_clock::now() + shared_->config.limits.request_timeout;
  stream_.expires_at(deadline_);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void HttpSession::on_header(beast::error_code ec) {
  const unsigned version = 11;
  if (ec == http::error::header_limit) {
    body_unread_ = true;
    return send(error_response(http::status::request_header_fields_too_large, "request headers exceed 16 KiB", version), false);
  }
  if (ec == http::error::body_limit) {
    body_unread_ = true;
    if (auto rejection = check_request(parser_->get())) return send(std::move(*rejection), false);
    return send(error_response(http::status::payload_too_large, "request body exceeds 8 MiB", version), false);
  }
  if (ec && is_http_parse_error(ec)) {
    body_unread_ = true;
    return send(error_response(http::status::bad_request, "malformed HTTP request: " + ec.message(), version), false);
  }
  if (ec) return close();  // timeout, EOF or reset

  const auto& req = parser_->get();
  body_unread_ = !parser_->is_done();
  if (over_capacity_) {
    auto res = error_response(http::status::service_unavailable, "too many connections", req.version());
    res.set(http::field::retry_after, "1");
    return send(std::move(res), false);
  }
  if (auto rejection = check_request(req)) return send(std::move(*rejection), req.keep_alive() && !body_unread_);
  if (parser_->is_done()) return serve(parser_->release());
  stream_.expires_at(deadline_);
  http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code read_ec, std::size_t) { self->on_body(read_ec); });
}

void HttpSession::on_body(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    body_unread_ = true;
    return send(error_response(http::status::payload_too_large, "request body exceeds 8 MiB", parser_->get().version()), false);
  }
  if (ec && is_http_parse_error(ec)) {
    body_unread_ = true;
    return send(error_response(http::status::bad_request, "malformed HTTP request: " + ec.message(), 11), false);
  }
  if (ec) return close();
  body_unread_ = false;
  serve(parser_->release());
}

std::optional<HttpSession::Response> HttpSession::check_request(const Request& req) const {
  const unsigned short port = shared_->port;
  bool duplicated = false;
  const auto host = single_field(req, http::field::host, duplicated);
  if (duplicated || !check_host(host, port))
    return error_response(http::status::forbidden,
                          "Host must be 127.0.0.1:" + std::to_string(port) + ", localhost:" + std::to_string(port) + " or [::1]:" + std::to_string(port),
                          req.version());
  const auto origin = single_field(req, http::field::origin, duplicated);
  if (duplicated || !check_origin(origin, port))
    return error_response(http::status::forbidden, "Origin must be absent or the daemon's own loopback origin", req.version());

  const auto path = path_of(req);
  if (path == "/health") {
    if (req.method() != http::verb::get) {
      auto res = error_response(http::status::method_not_allowed, "/health accepts GET only", req.version());
      res.set(http::field::allow, "GET");
      return res;
    }
    return std::nullopt;
  }
  if (path != "/rpc") return error_response(http::status::not_found, "no such endpoint: " + std::string(path), req.version());
  const bool upgrade = req.method() == http::verb::get && websocket::is_upgrade(req);
  if (req.method() != http::verb::post && !upgrade) {
    auto res = error_response(http::status::method_not_allowed, "/rpc accepts POST, or GET with a WebSocket upgrade", req.version());
    res.set(http::field::allow, "POST, GET");
    return res;
  }
  const auto authorization = single_field(req, http::field::authorization, duplicated);
  if (duplicated || !check_bearer(authorization, shared_->config.token)) {
    auto res = error_response(http::status::unauthorized, "missing or wrong bearer token", req.version());
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  return std::nullopt;
}

void HttpSession::serve(Request req) {
  if (path_of(req) == "/health") {
    bool duplicated = false;
    const bool authorized = check_bearer(single_field(req, http::field::authorization, duplicated), shared_->config.token) && !duplicated;
    nlohmann::json body = shared_->endpoints.health ? shared_->endpoints.health(authorized) : nlohmann::json{{"status", "ok"}};
    return send(make_response(http::status::ok, body.dump(), req.version()), req.keep_alive());
  }
  if (websocket::is_upgrade(req)) {
    phase_ = Phase::closed;
    auto ws = std::make_shared<WebSocketSession>(stream_.release_socket(), shared_);
    shared_->track(ws);
    ws->run(std::move(req));
    return;
  }
  serve_rpc(std::move(req));
}

void HttpSession::serve_rpc(Request req) {
  phase_ = Phase::handling;
  const bool keep_alive = req.keep_alive();
  const unsigned version = req.version();
  auto self = shared_from_this();
  shared_->endpoints.dispatcher->handle(req.body(), rpc::CallContext{}, [self, keep_alive, version](std::optional<std::string> text) {
    net::dispatch(self->stream_.get_executor(), [self, keep_alive, version, text = std::move(text)]() mutable {
      if (text) return self->send(self->make_response(http::status::ok, std::move(*text), version), keep_alive);
      Response res{http::status::no_content, version};
      res.set(http::field::server, "prestaged/" PRESTAGE_VERSION);
      self->send(std::move(res), keep_alive);
    });
  });
}

HttpSession::Response HttpSession::make_response(http::status status, std::string body, unsigned version) const {
  Response res{status, version};
  res.set(http::field::server, "prestaged/" PRESTAGE_VERSION);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

HttpSession::Response HttpSession::error_response(http::status status, std::string_view message, unsigned version) const {
  return make_response(status, nlohmann::json{{"error", message}}.dump(), version);
}

void HttpSession::send(Response res, bool keep_alive) {
  keep_alive = keep_alive && !shared_->stopping && !close_after_write_;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  phase_ = Phase::writing;
  auto shared_res = std::make_shared<Response>(std::move(res));
  stream_.expires_after(shared_->config.limits.request_timeout);
  http::async_write(stream_, *shared_res, [self = shared_from_this(), shared_res, keep_alive](beast::error_code ec, std::size_t) {
    self->on_write(keep_alive, ec);
  });
}

void HttpSession::on_write(bool keep_alive, beast::error_code ec) {
  if (ec) return close();
  if (!keep_alive || close_after_write_ || shared_->stopping) {
    if (body_unread_) return linger_then_close();
    return close();
  }
  wait_for_request();
}

// After rejecting a request whose body was not read, stop sending and drain what the client
// still sends for a bounded time, so it sees our answer instead of a reset.
void HttpSession::linger_then_close() {
  phase_ = Phase::closed;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  drained_ = 0;
  drain();
}

void HttpSession::drain() {
  stream_.expires_after(std::chrono::seconds(2));
  stream_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
    self->drained_ += bytes;
    if (ec || self->drained_ > 2 * self->shared_->config.limits.body_max) return self->close();
    self->drain();
  });
}

void HttpSession::close() {
  phase_ = Phase::closed;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}
}  // namespace prestage::transport
