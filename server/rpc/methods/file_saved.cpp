// file/saved {path} (notification): an editor saved a file; the projects containing it settle and build
// at once instead of waiting for inotify.
#include "rpc/methods/methods.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
void register_file_saved(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("file/saved", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    const std::filesystem::path path = ParamReader(params).string("path");
    if (!path.is_absolute()) throw InvalidParams("params.path must be an absolute path, got \"" + path.string() + "\"");
    std::size_t projects = 0;
    for (auto* pipeline : services.projects.pipelines_containing(path)) {
      pipeline->paths_changed({path}, false);
      ++projects;
    }
    reply.ok({{"projects", projects}});
  });
}
}  // namespace prestage::rpc
