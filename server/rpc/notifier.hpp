#pragma once
// Fan-out of server -> client notifications to connected WebSocket peers (held weakly).
// Io thread only (checked): sessions register and the core notifies there, so it takes no lock.
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "rpc/dispatcher.hpp"

namespace prestage::rpc {
class Notifier {
 public:
  void add(std::weak_ptr<Peer> peer);
  // Sends {"jsonrpc":"2.0","method":method,"params":params} to every live peer.
  void broadcast(std::string_view method, const nlohmann::json& params);
  // Sends to live peers matching `filter` (e.g. by client id); returns how many were sent to.
  std::size_t send_if(std::string_view method, const nlohmann::json& params,
                      const std::function<bool(const Peer&)>& filter);
  std::size_t connected() const;

 private:
  std::vector<std::shared_ptr<Peer>> live_peers();

  std::vector<std::weak_ptr<Peer>> peers_;
};
}  // namespace prestage::rpc
