#pragma once
// One HTTP/1.1 connection: reads requests with header/body limits and timeouts, checks Host,
// Origin and the token, serves /health and POST /rpc, and upgrades /rpc to a WebSocketSession.
#include <memory>
#include <optional>

#include "transport/server_shared.hpp"

namespace prestage::transport {
class HttpSession : public Session, public std::enable_shared_from_this<HttpSession> {
 public:
  // `over_capacity`: read the request, answer 503 and close.
  HttpSession(tcp::socket&& socket, std::shared_ptr<ServerShared> shared, bool over_capacity);
  void run();
  void stop() override;

 private:
  enum class Phase { reading, handling, writing, closed };
  using Response = http::response<http::string_body>;

  void wait_for_request();
  void on_first_bytes(beast::error_code ec, std::size_t bytes);
  void read_header();
  void on_header(beast::error_code ec);
  void on_body(beast::error_code ec);
  // Host/Origin/route/token in protocol order; returns a rejection response or nullopt.
  std::optional<Response> check_request(const http::request<http::string_body>& req) const;
  void serve(http::request<http::string_body> req);
  void serve_rpc(http::request<http::string_body> req);
  Response make_response(http::status status, std::string body, unsigned version) const;
  Response error_response(http::status status, std::string_view message, unsigned version) const;
  void send(Response res, bool keep_alive);
  void on_write(bool keep_alive, beast::error_code ec);
  void linger_then_close();
  void drain();
  void close();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<ServerShared> shared_;
  std::optional<ConnectionSlot> slot_;
  bool over_capacity_;
  Phase phase_ = Phase::reading;
  bool close_after_write_ = false;
  bool body_unread_ = false;
  std::size_t drained_ = 0;
  std::array<char, 16384> drain_buffer_{};
  std::chrono::steady_clock::time_point deadline_;
};
}  // namespace prestage::transport
