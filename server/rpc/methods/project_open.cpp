// project/open {root, python?} -> {id, root, kind, modules}
#include "projects/detect.hpp"
#include "rpc/protocol.hpp"
#include "rpc/methods/methods.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_project_open(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("project/open", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    ParamReader p(params);
    const std::string root = p.string("root");
    const auto python = p.optional_string("python");
    if (!std::filesystem::path(root).is_absolute()) throw InvalidParams("params.root must be an absolute path, got \"" + root + "\"");
    if (python) {
      try {
        projects::validate_python(*python);
      } catch (const projects::ProjectError& e) {
        throw InvalidParams(std::string("params.python: ") + e.what());
      }
    }
    try {
      const auto& project = services.projects.open(root, python);
      reply.ok({{"id", project.info.id},
                {"root", project.info.root.string()},
                {"kind", to_string(project.info.kind)},
                {"modules", project.info.modules},
                {"distribution", distribution_json(project.info)}});
    } catch (const projects::ProjectError& e) {
      throw InvalidParams(std::string("params.root: ") + e.what());
    }
  });
}
}  // namespace prestage::rpc
