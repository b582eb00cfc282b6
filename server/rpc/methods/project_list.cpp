// project/list -> [{id, root, kind, modules, generation, state, last_build, watch, pythons}]
#include "rpc/methods/methods.hpp"
#include "rpc/protocol.hpp"

namespace prestage::rpc {
void register_project_list(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("project/list", [&services](const nlohmann::json&, CallContext&, Responder reply) {
    reply.ok(project_list(services.projects));
  });
}
}  // namespace prestage::rpc
