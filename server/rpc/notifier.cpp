#include "rpc/notifier.hpp"

#include <algorithm>

#include "util/thread_check.hpp"

namespace prestage::rpc {
void Notifier::add(std::weak_ptr<Peer> peer) {
  util::assert_on_io("Notifier::add");
  std::erase_if(peers_, [](const auto& p) { return p.expired(); });
  peers_.push_back(std::move(peer));
}

std::vector<std::shared_ptr<Peer>> Notifier::live_peers() {
  util::assert_on_io("Notifier::send_if");
  std::vector<std::shared_ptr<Peer>> live;
  std::erase_if(peers_, [&](const auto& weak) {
    auto peer = weak.lock();
    if (!peer) return true;
    live.push_back(std::move(peer));
    return false;
  });
  return live;
}

void Notifier::broadcast(std::string_view method, const nlohmann::json& params) {
  send_if(method, params, [](const Peer&) { return true; });
}

std::size_t Notifier::send_if(std::string_view method, const nlohmann::json& params,
                              const std::function<bool(const Peer&)>& filter) {
  const std::string text = Dispatcher::notification_text(method, params);
  std::size_t sent = 0;
  for (auto& peer : live_peers()) {
    if (!filter(*peer)) continue;
    peer->send_text(text);
    ++sent;
  }
  return sent;
}

std::size_t Notifier::connected() const {
  util::assert_on_io("Notifier::connected");
  return static_cast<std::size_t>(std::count_if(peers_.begin(), peers_.end(), [](const auto& p) { return !p.expired(); }));
}
}  // namespace prestage::rpc
