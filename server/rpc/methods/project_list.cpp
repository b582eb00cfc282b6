// project/list -> [{id, root, kind, modules, generation, state, last_build, watch, pythons}]
#include "rpc/methods/methods.hpp"

namespace prestage::rpc {
void register_project_list(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("project/list", [&services](const nlohmann::json&, CallContext&, Responder reply) {
    reply.ok(services.projects.list());
  });
}
}  // namespace prestage::rpc
