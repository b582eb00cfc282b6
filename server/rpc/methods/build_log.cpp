// build/log {id} -> {id, generation, ok, log}: the newest build's output (bounded tail).
#include "rpc/methods/methods.hpp"
#include "rpc/protocol.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_build_log(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("build/log", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    const std::string id = ParamReader(params).string("id");
    auto* pipeline = services.projects.pipeline(id);
    if (!pipeline) throw InvalidParams("params.id: no open project with id \"" + id + "\"");
    reply.ok(build_log_json(pipeline->build_log()));
  });
}
}  // namespace prestage::rpc
