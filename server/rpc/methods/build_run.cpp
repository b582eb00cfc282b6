// build/run {id} -> {id, queued: true}
#include "rpc/methods/methods.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_build_run(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("build/run", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    const std::string id = ParamReader(params).string("id");
    auto* pipeline = services.projects.pipeline(id);
    if (!pipeline) throw InvalidParams("params.id: no open project with id \"" + id + "\"");
    pipeline->force_build();
    reply.ok({{"id", id}, {"queued", true}});
  });
}
}  // namespace prestage::rpc
