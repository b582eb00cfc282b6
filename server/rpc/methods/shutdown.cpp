// shutdown -> null, then the daemon exits cleanly (server.json removed).
#include <spdlog/spdlog.h>

#include "rpc/methods/methods.hpp"

namespace prestage::rpc {
void register_shutdown(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("shutdown", [&services](const nlohmann::json&, CallContext& ctx, Responder reply) {
    spdlog::info("shutdown requested by {}", ctx.client_id.empty() ? "an HTTP client" : ctx.client_id);
    reply.ok(nullptr);  // queued before the shutdown, so the reply is written before sessions close
    if (services.request_shutdown) services.request_shutdown();
  });
}
}  // namespace prestage::rpc
