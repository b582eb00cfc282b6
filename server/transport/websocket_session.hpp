#pragma once
// A WebSocket on /rpc: JSON-RPC in both directions. Outgoing texts go through a queue on the
// session's strand, so there is never more than one async_write in flight.
#include <deque>
#include <memory>
#include <string>

#include "rpc/dispatcher.hpp"
#include "transport/server_shared.hpp"

namespace prestage::transport {
class WebSocketSession : public Session, public rpc::Peer, public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(tcp::socket&& socket, std::shared_ptr<ServerShared> shared);
  void run(http::request<http::string_body> upgrade);
  void send_text(std::string text) override;
  void stop() override;

 private:
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void do_close();

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::shared_ptr<ServerShared> shared_;
  ConnectionSlot slot_;
  std::deque<std::string> queue_;
  bool open_ = false;
  bool close_requested_ = false;
  bool closing_ = false;
};
}  // namespace prestage::transport
