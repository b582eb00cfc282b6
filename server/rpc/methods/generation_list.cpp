// generation/list {id} -> [{generation, python, created_at, duration_ms, ok, artifacts}], newest first.
#include "rpc/methods/methods.hpp"
#include "rpc/protocol.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_generation_list(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("generation/list", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    const std::string id = ParamReader(params).string("id");
    auto* pipeline = services.projects.pipeline(id);
    if (!pipeline) throw InvalidParams("params.id: no open project with id \"" + id + "\"");
    reply.ok(generations_json(pipeline->generations()));
  });
}
}  // namespace prestage::rpc
