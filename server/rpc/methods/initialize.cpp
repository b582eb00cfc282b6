// initialize {client: {name, version, pid}} -> {server: {name, version}, client_id}
#include <atomic>
#include <spdlog/spdlog.h>

#include "rpc/methods/methods.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_initialize(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("initialize", [&services](const nlohmann::json& params, CallContext& ctx, Responder reply) {
    static std::atomic<std::uint64_t> next_client{1};
    ParamReader client = ParamReader(params).object("client");
    const std::string name = client.string("name");
    const std::string version = client.optional_string("version").value_or("");
    const auto pid = client.optional_integer("pid");
    if (pid && *pid <= 0) throw InvalidParams("params.client.pid must be a positive integer");

    std::string client_id = name + "-" + std::to_string(next_client++);
    ctx.client_id = client_id;
    if (ctx.peer) ctx.peer->client_id = client_id;
    spdlog::info("client {} initialized ({} {}, pid {})", client_id, name, version, pid.value_or(0));
    reply.ok({{"server", {{"name", "prestaged"}, {"version", services.identity.version}}}, {"client_id", client_id}});
  });
}
}  // namespace prestage::rpc
