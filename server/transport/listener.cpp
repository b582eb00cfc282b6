#include "transport/listener.hpp"

#include <spdlog/spdlog.h>

#include "transport/http_session.hpp"

namespace prestage::transport {
Listener::Listener(net::io_context& ioc, TransportConfig config, Endpoints endpoints)
    : ioc_(ioc), acceptor_(net::make_strand(ioc)), retry_timer_(acceptor_.get_executor()), shared_(std::make_shared<ServerShared>()) {
  shared_->config = std::move(config);
  shared_->endpoints = std::move(endpoints);
  const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), shared_->config.port);
  auto fail = [&](beast::error_code ec, const char* what) {
    throw std::system_error(ec, std::string("cannot ") + what + " 127.0.0.1:" + std::to_string(shared_->config.port));
  };
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) fail(ec, "open a socket for");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) fail(ec, "bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail(ec, "listen on");
  shared_->port = acceptor_.local_endpoint().port();
}

void Listener::run() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void Listener::stop() {
  shared_->stopping = true;
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
  shared_->stop_all();
}

void Listener::do_accept() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // e.g. EMFILE: back off briefly instead of spinning.
    spdlog::warn("accept failed: {}", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec) self->do_accept();
    });
    return;
  }
  const bool over_capacity = shared_->connections.load() >= shared_->config.limits.max_connections;
  auto session = std::make_shared<HttpSession>(std::move(socket), shared_, over_capacity);
  shared_->track(session);
  session->run();
  do_accept();
}
}  // namespace prestage::transport
