// reload/request {project} -> {project, clients}: asks connected finder clients to reload the
// project's modules at their next opportunity (a notebook's next cell).
#include "rpc/methods/methods.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_reload_request(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("reload/request", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    const std::string id = ParamReader(params).string("project");
    auto* pipeline = services.projects.pipeline(id);
    if (!pipeline) throw InvalidParams("params.project: no open project with id \"" + id + "\"");
    services.notifier.broadcast("reload/requested", {{"project", id}, {"generation", pipeline->generation()}});
    reply.ok({{"project", id}, {"clients", services.notifier.connected()}});
  });
}
}  // namespace prestage::rpc
