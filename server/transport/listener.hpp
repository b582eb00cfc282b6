#pragma once
// Accepts connections on 127.0.0.1 and hands each to an HttpSession on its own strand. The
// strands stay although one thread runs the io_context: Beast's model, so a session's handlers
// never interleave even if the daemon ever runs io on more threads; with one thread they cost nothing.
#include <memory>

#include "transport/server_shared.hpp"

namespace prestage::transport {
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds 127.0.0.1:config.port at once; throws std::system_error naming the address on failure.
  Listener(net::io_context& ioc, TransportConfig config, Endpoints endpoints);
  unsigned short port() const { return shared_->port; }
  std::size_t connections() const { return shared_->connections.load(); }
  void run();   // start accepting
  void stop();  // stop accepting; sessions finish their write in flight, then close

 private:
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::shared_ptr<ServerShared> shared_;
};
}  // namespace prestage::transport
