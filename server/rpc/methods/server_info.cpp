// server/info -> {version, pid, port, state_dir, started_at, uptime_s, projects, builds_running, clients}
#include "rpc/methods/methods.hpp"

namespace prestage::rpc {
void register_server_info(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("server/info", [&services](const nlohmann::json&, CallContext&, Responder reply) {
    const auto& id = services.identity;
    nlohmann::json result = {{"version", id.version},       {"pid", id.pid},
                             {"port", id.port},             {"state_dir", id.state_dir.string()},
                             {"started_at", id.started_at}, {"uptime_s", id.uptime_s()}};
    result.update(services.counts());
    reply.ok(std::move(result));
  });
}
}  // namespace prestage::rpc
