#pragma once
// Configuration and bookkeeping shared by the Listener and its sessions.
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rpc/dispatcher.hpp"
#include "rpc/notifier.hpp"

namespace prestage::transport {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

// Limits from docs/protocol.md; tests may lower them.
struct Limits {
  std::size_t body_max = 8 * 1024 * 1024;      // 413 past this
  std::size_t header_max = 16 * 1024;          // 431 past this
  std::chrono::seconds request_timeout{10};    // a request must arrive whole within this of its first byte
  std::chrono::seconds idle_timeout{30};       // idle keep-alive connections close after this
  std::size_t max_connections = 512;           // 503 past this
  std::size_t ws_message_max = 8 * 1024 * 1024;
};

struct Endpoints {
  rpc::Dispatcher* dispatcher = nullptr;
  rpc::Notifier* notifier = nullptr;
  // GET /health body; `authorized` when the request carried the right bearer token.
  std::function<nlohmann::json(bool authorized)> health;
};

struct TransportConfig {
  std::string token;
  unsigned short port = 0;  // 0: ephemeral
  Limits limits;
};

class Session {
 public:
  virtual ~Session() = default;
  virtual void stop() = 0;  // finish the write in flight, then close
};

struct ServerShared {
  TransportConfig config;
  Endpoints endpoints;
  unsigned short port = 0;  // the bound port
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};

  void track(std::weak_ptr<Session> session) {
    std::lock_guard lock(mutex);
    std::erase_if(sessions, [](const auto& s) { return s.expired(); });
    sessions.push_back(std::move(session));
  }
  void stop_all() {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(mutex);
      for (auto& weak : sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
      sessions.clear();
    }
    for (auto& s : live) s->stop();
  }

 private:
  std::mutex mutex;
  std::vector<std::weak_ptr<Session>> sessions;
};

// Counts a served connection for its lifetime.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::shared_ptr<ServerShared> shared) : shared_(std::move(shared)) { ++shared_->connections; }
  ~ConnectionSlot() { --shared_->connections; }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::shared_ptr<ServerShared> shared_;
};
}  // namespace prestage::transport
