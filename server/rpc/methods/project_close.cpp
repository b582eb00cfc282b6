// project/close {id} | {root} -> {id, closed: true}
#include "projects/detect.hpp"
#include "rpc/methods/methods.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_project_close(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("project/close", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    ParamReader p(params);
    const auto id = p.optional_string("id");
    const auto root = p.optional_string("root");
    if (id && root) throw InvalidParams("give either params.id or params.root, not both");
    if (!id && !root) throw InvalidParams("missing required field params.id (or params.root)");
    try {
      std::string closed = id ? services.projects.close_by_id(*id) : services.projects.close_by_root(*root);
      reply.ok({{"id", closed}, {"closed", true}});
    } catch (const projects::ProjectError& e) {
      throw InvalidParams(std::string(id ? "params.id: " : "params.root: ") + e.what());
    }
  });
}
}  // namespace prestage::rpc
