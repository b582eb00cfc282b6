#include "transport/websocket_session.hpp"

#include <spdlog/spdlog.h>

namespace prestage::transport {
WebSocketSession::WebSocketSession(tcp::socket&& socket, std::shared_ptr<ServerShared> shared)
    : ws_(std::move(socket)), shared_(std::move(shared)), slot_(shared_) {}

void WebSocketSession::run(http::request<http::string_body> upgrade) {
  beast::get_lowest_layer(ws_).expires_never();  // the websocket stream has its own timeouts
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = shared_->config.limits.request_timeout;
  timeouts.idle_timeout = std::chrono::seconds(60);
  timeouts.keep_alive_pings = true;  // idle peers are pinged; dead ones are dropped
  ws_.set_option(timeouts);
  ws_.read_message_max(shared_->config.limits.ws_message_max);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "prestaged/" PRESTAGE_VERSION); }));
  auto self = shared_from_this();
  net::dispatch(ws_.get_executor(), [self, req = std::move(upgrade)]() mutable {
    self->ws_.async_accept(req, beast::bind_front_handler(&WebSocketSession::on_accept, self));
  });
}

void WebSocketSession::on_accept(beast::error_code ec) {
  if (ec) {
    spdlog::debug("websocket handshake failed: {}", ec.message());
    return;
  }
  open_ = true;
  if (shared_->endpoints.notifier) shared_->endpoints.notifier->add(std::weak_ptr<rpc::Peer>(shared_from_this()));
  if (close_requested_ || shared_->stopping) return do_close();
  do_read();
}

void WebSocketSession::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WebSocketSession::on_read, shared_from_this()));
}

void WebSocketSession::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec != websocket::error::closed) spdlog::debug("websocket read ended: {}", ec.message());
    open_ = false;
    return;
  }
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  rpc::CallContext ctx{shared_from_this(), client_id};
  std::weak_ptr<WebSocketSession> weak = shared_from_this();
  shared_->endpoints.dispatcher->handle(text, std::move(ctx), [weak](std::optional<std::string> reply) {
    if (!reply) return;
    if (auto self = weak.lock()) self->send_text(std::move(*reply));
  });
  do_read();
}

void WebSocketSession::send_text(std::string text) {
  net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
    if (!self->open_ || self->closing_) return;
    self->queue_.push_back(std::move(text));
    if (self->queue_.size() == 1) self->do_write();  // otherwise a write is in flight; on_write continues
  });
}

void WebSocketSession::do_write() {
  ws_.text(true);
  ws_.async_write(net::buffer(queue_.front()), beast::bind_front_handler(&WebSocketSession::on_write, shared_from_this()));
}

void WebSocketSession::on_write(beast::error_code ec, std::size_t) {
  if (ec) {
    queue_.clear();
    open_ = false;
    return;
  }
  queue_.pop_front();
  if (!queue_.empty()) return do_write();
  if (close_requested_) do_close();
}

void WebSocketSession::stop() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    self->close_requested_ = true;
    if (self->open_ && self->queue_.empty()) self->do_close();
  });
}

void WebSocketSession::do_close() {
  if (closing_ || !open_) return;
  closing_ = true;
  ws_.async_close(websocket::close_code::going_away, [self = shared_from_this()](beast::error_code) { self->open_ = false; });
}
}  // namespace prestage::transport
