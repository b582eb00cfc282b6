#include "transport/handoff_listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <chrono>
#include <cstring>

#include "transport/request_guard.hpp"
#include "util/thread_check.hpp"

namespace prestage::transport {
namespace net = boost::asio;
using local = net::local::stream_protocol;

namespace {
constexpr std::size_t kMaxRequest = 512;
constexpr auto kRequestTimeout = std::chrono::seconds(2);

// One client: reads its token line (bounded in size and time), answers with one line and the fds.
class HandoffSession : public std::enable_shared_from_this<HandoffSession> {
 public:
  HandoffSession(local::socket socket, std::string token, HandoffListener::HandoutFn handout)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(kMaxRequest),
        token_(std::move(token)),
        handout_(std::move(handout)) {}

  void start() {
    timer_.expires_after(kRequestTimeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (auto self = weak.lock(); self && !ec) self->close();
    });
    net::async_read_until(socket_, buffer_, '\n', [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      self->timer_.cancel();
      if (ec) return self->close();  // closed, too long, or timed out: nothing to answer
      std::string line(static_cast<const char*>(self->buffer_.data().data()), n - 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      self->answer(line);
    });
  }

 private:
  void answer(const std::string& line) {
    util::assert_on_io("HandoffSession::answer");
    if (!constant_time_equals(line, token_)) {
      send("{\"error\":\"unauthorized: the first line must be the token from server.json\"}\n", {});
      return;
    }
    HandoffListener::Handout handout = handout_();
    std::string text = "{\"fds\":[";
    for (std::size_t i = 0; i < handout.names.size(); ++i) text += (i ? ",\"" : "\"") + handout.names[i] + "\"";
    text += "]}\n";
    send(text, handout.fds);
  }

  void send(const std::string& text, const std::vector<int>& fds) {
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())), 0);
    if (!fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
    }
    // A few dozen bytes into a fresh socket's empty buffer: never blocks. On failure the client
    // reads EOF and keeps asking the daemon instead.
    if (::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
      spdlog::debug("handoff: sendmsg failed: {}", std::strerror(errno));
    close();
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  local::socket socket_;
  net::steady_timer timer_;
  net::streambuf buffer_;
  std::string token_;
  HandoffListener::HandoutFn handout_;
};
}  // namespace

HandoffListener::HandoffListener(net::io_context& io, fs::path socket_path, std::string token, HandoutFn handout)
    : io_(io), path_(std::move(socket_path)), token_(std::move(token)), handout_(std::move(handout)), acceptor_(io), retry_timer_(io) {}

HandoffListener::~HandoffListener() { stop(); }

bool HandoffListener::run(std::string& error) {
  util::assert_on_io("HandoffListener::run");
  if (path_.native().size() >= sizeof(sockaddr_un{}.sun_path)) {
    error = "the handoff socket path " + path_.string() + " is longer than a Unix socket path may be";
    return false;
  }
  std::error_code fec;
  fs::remove(path_, fec);  // left by a daemon that died; the instance lock says it is not running
  boost::system::error_code ec;
  acceptor_.open(local(), ec);
  if (!ec) acceptor_.bind(local::endpoint(path_.string()), ec);
  if (!ec && ::chmod(path_.c_str(), S_IRUSR | S_IWUSR) != 0) ec.assign(errno, boost::system::system_category());
  if (!ec) acceptor_.listen(16, ec);
  if (ec) {
    error = "cannot listen on " + path_.string() + ": " + ec.message();
    acceptor_.close(ec);
    return false;
  }
  bound_ = true;
  accept();
  return true;
}

void HandoffListener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
  if (bound_) {
    std::error_code fec;
    fs::remove(path_, fec);
    bound_ = false;
  }
}

void HandoffListener::accept() {
  acceptor_.async_accept([weak = weak_from_this()](boost::system::error_code ec, local::socket socket) {
    auto self = weak.lock();
    if (!self || !self->acceptor_.is_open()) return;
    if (ec) {  // out of fds, say: try again shortly rather than spin
      spdlog::warn("handoff: accept failed: {}", ec.message());
      self->retry_timer_.expires_after(std::chrono::milliseconds(200));
      self->retry_timer_.async_wait([weak](boost::system::error_code timer_ec) {
        if (auto again = weak.lock(); again && !timer_ec) again->accept();
      });
      return;
    }
    std::make_shared<HandoffSession>(std::move(socket), self->token_, self->handout_)->start();
    self->accept();
  });
}
}  // namespace prestage::transport
