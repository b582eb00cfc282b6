// sync {projects?: [id], wait?} -> {projects: [project/list entries]}: read-your-writes for a whole
// project set. Every change saved before the call is taken in (ProjectPipeline::sync); with `wait`,
// the answer comes once those projects are idle, so their builds are over (-32002 past the budget).
#include <algorithm>
#include <chrono>
#include <memory>

#include "rpc/methods/methods.hpp"
#include "rpc/protocol.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
namespace {
constexpr std::chrono::seconds kDefaultWait{120};
constexpr std::chrono::seconds kMaxWait{3600};

std::vector<std::string> project_ids(const nlohmann::json& params) {
  std::vector<std::string> ids;
  auto it = params.find("projects");
  if (it == params.end() || it->is_null()) return ids;
  if (!it->is_array()) throw InvalidParams("params.projects must be an array of project ids");
  for (const auto& id : *it) {
    if (!id.is_string() || id.get<std::string>().empty()) throw InvalidParams("params.projects entries must be non-empty strings");
    ids.push_back(id.get<std::string>());
  }
  return ids;
}

nlohmann::json entries(Services& services, const std::vector<std::string>& ids) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, project] : services.projects.projects())
    if (ids.empty() || std::find(ids.begin(), ids.end(), id) != ids.end()) out.push_back(project_entry(project));
  return out;
}
}  // namespace

void register_sync(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("sync", [&services](const nlohmann::json& params, CallContext&, Responder reply) {
    ParamReader p(params);
    const auto budget = p.optional_wait("wait", kDefaultWait, kMaxWait);
    const auto ids = project_ids(params);
    std::vector<projects::ProjectPipeline*> pipelines;
    try {
      pipelines = services.projects.sync(ids);
    } catch (const projects::ProjectError& e) {
      throw InvalidParams(std::string("params.projects: ") + e.what());
    }
    if (budget.count() == 0 || pipelines.empty()) return reply.ok({{"projects", entries(services, ids)}});

    struct Pending {
      std::size_t left = 0;
      bool timed_out = false;
      std::vector<std::string> busy;
    };
    auto pending = std::make_shared<Pending>();
    pending->left = pipelines.size();
    for (auto* pipeline : pipelines) {
      std::string id = pipeline->info().id;
      pipeline->when_idle(budget, [&services, pending, reply, ids, budget, id](bool idle) mutable {
        if (!idle) {
          pending->timed_out = true;
          pending->busy.push_back(id);
        }
        if (--pending->left > 0) return;
        if (!pending->timed_out) return reply.ok({{"projects", entries(services, ids)}});
        reply.fail({kBuildTimeout, "timed out after " + std::to_string(budget.count() / 1000) + " s waiting for the builds of " +
                                       std::to_string(pending->busy.size()) + " project(s)",
                    {{"projects", pending->busy}}});
      });
    }
  });
}
}  // namespace prestage::rpc
