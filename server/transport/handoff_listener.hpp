#pragma once
// The handoff socket: a Unix socket in the state dir (0600, in a 0700 dir) where a client that
// sends the bearer token gets, by SCM_RIGHTS, the fds that let it see "nothing changed since my
// last answer" without a round trip: the change page and the inotify instance (docs/protocol.md
// "Change page"). One line in, one line (plus the fds) out, then the daemon closes. Io thread only.
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prestage::transport {
namespace fs = std::filesystem;

class HandoffListener : public std::enable_shared_from_this<HandoffListener> {
 public:
  struct Handout {
    std::vector<std::string> names;  // what each fd is: "change_page", "inotify"
    std::vector<int> fds;            // borrowed: sent, never closed here
  };
  using HandoutFn = std::function<Handout()>;

  HandoffListener(boost::asio::io_context& io, fs::path socket_path, std::string token, HandoutFn handout);
  ~HandoffListener();
  // Binds and starts accepting. False, with `error` set, when the socket cannot be made (a state
  // dir path too long for sun_path, say); clients then always ask.
  bool run(std::string& error);
  void stop();  // stops accepting and removes the socket file
  const fs::path& path() const { return path_; }

 private:
  void accept();
  boost::asio::io_context& io_;
  fs::path path_;
  std::string token_;
  HandoutFn handout_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  bool bound_ = false;
};
}  // namespace prestage::transport
