// spec/resolve {name, python, wait?, sync?, loaded?, needs_pybind11_helper?, pins?} -> the staged spec of `name`, or null when no open
// project provides it. Waits (bounded) for a queued or running build when `wait` is set.
#include <chrono>

#include "rpc/methods/methods.hpp"
#include "rpc/protocol.hpp"
#include "rpc/params.hpp"

namespace prestage::rpc {
namespace {
constexpr std::chrono::seconds kDefaultWait{120};
constexpr std::chrono::seconds kMaxWait{3600};
}  // namespace

void register_spec_resolve(Dispatcher& dispatcher, Services& services) {
  dispatcher.add("spec/resolve", [&services](const nlohmann::json& params, CallContext& ctx, Responder reply) {
    ParamReader p(params);
    const std::string name = p.string("name");
    const std::string python = p.string("python");
    try {
      services.projects.validate_python_recently(python);
    } catch (const projects::ProjectError& e) {
      throw InvalidParams(std::string("params.python: ") + e.what());
    }
    auto budget = p.optional_wait("wait", kDefaultWait, kMaxWait);
    const bool sync = p.optional_bool("sync").value_or(false);
    p.optional_bool("loaded");
    const bool needs_helper = p.optional_bool("needs_pybind11_helper").value_or(false);
    if (auto pins = params.find("pins"); pins != params.end()) {
      if (!pins->is_array()) throw InvalidParams("params.pins must be an array of {project, generation}");
      std::map<std::string, std::set<std::uint64_t>> by_project;
      for (const auto& pin : *pins) {
        if (!pin.is_object() || !pin.contains("project") || !pin["project"].is_string() || !pin.contains("generation") ||
            !pin["generation"].is_number_unsigned())
          throw InvalidParams("params.pins entries must be {project: string, generation: positive integer}");
        by_project[pin["project"].get<std::string>()].insert(pin["generation"].get<std::uint64_t>());
      }
      const std::string client = ctx.client_id.empty() ? "http" : ctx.client_id;
      for (auto& [project, gens] : by_project)
        if (auto* pipeline = services.projects.pipeline(project)) pipeline->pin(client, std::move(gens));
    }
    auto* pipeline = services.projects.pipeline_providing(name.substr(0, name.find('.')));
    if (!pipeline) {
      reply.ok(nullptr);
      return;
    }
    if (sync) pipeline->sync();  // every save completed before this call is seen (and waited for, with `wait`)
    projects::ResolveRequest request{name, python, budget.count() > 0, budget, {}, needs_helper};
    pipeline->resolve(std::move(request), [reply](projects::ResolveOutcome outcome) mutable {
      if (outcome.error != projects::ResolveError::none) reply.fail(resolve_error(outcome));
      else reply.ok_serialized(outcome.text ? std::string_view(*outcome.text) : std::string_view("null"));
    });
  });
}
}  // namespace prestage::rpc
