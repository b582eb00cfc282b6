// prestaged: one io_context on one thread; transport -> rpc -> projects.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "app/discovery.hpp"
#include "app/options.hpp"
#include "app/state_dir.hpp"
#include <boost/asio/thread_pool.hpp>

#include "builders/interpreter.hpp"
#include "projects/build_slots.hpp"
#include "projects/change_page.hpp"
#include "projects/project_manager.hpp"
#include "rpc/dispatcher.hpp"
#include "rpc/methods/methods.hpp"
#include "rpc/notifier.hpp"
#include "rpc/protocol.hpp"
#include "rpc/services.hpp"
#include "transport/handoff_listener.hpp"
#include "transport/listener.hpp"
#include "util/clock.hpp"
#include "util/thread_check.hpp"
#include "watch/inotify_backend.hpp"

namespace {
using namespace prestage;
namespace net = boost::asio;

// Stops the io_context if a clean shutdown has not finished within the grace period.
class ShutdownWatchdog {
 public:
  ~ShutdownWatchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void arm(net::io_context& ioc, std::chrono::seconds grace) {
    if (thread_.joinable()) return;
    thread_ = std::thread([this, &ioc, grace] {
      std::unique_lock lock(mutex_);
      if (!cv_.wait_for(lock, grace, [this] { return done_; })) {
        spdlog::warn("connections did not close within {} s; stopping anyway", grace.count());
        ioc.stop();
      }
    });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

int run_daemon(const app::Options& options) {
  const auto state_dir = app::prepare_state_dir(app::resolve_state_dir(options.state_dir));
  std::string running;
  auto lock = app::InstanceLock::acquire(state_dir, running);
  if (!lock) {
    std::fprintf(stderr, "prestaged: %s\n", running.c_str());
    return 1;
  }

  util::bind_io_thread();  // this thread runs ioc below; the thread rules are checked against it
  net::io_context ioc{1};
  net::thread_pool workers(2);  // hashing and staging; results are posted back to ioc
  std::string page_error;
  auto change_page = projects::ChangePage::create(page_error);  // outlives the pipelines holding its lines
  if (!change_page) spdlog::warn("{}; every import and reload asks the daemon", page_error);
  projects::ProjectManager project_manager(state_dir);
  rpc::Notifier notifier;
  builders::InterpreterCache interpreters(state_dir / "interpreters.json");
  projects::BuildSlots build_slots(static_cast<std::size_t>(options.jobs));
  builders::Pybind11Helpers pybind11_helpers(ioc, state_dir / "pybind11-helper");
  watch::WatchBackends watch_backends(ioc);  // one inotify instance for every project
  watch::WatcherOptions watch_options;
  watch_options.poll_only = options.poll_only;
  rpc::NotifyingEvents events(notifier);  // the core's typed events as notifications
  projects::PipelineEnv pipeline_env{ioc,           workers,   interpreters,
                                     build_slots,   pybind11_helpers, watch_backends,
                                     watch_options, state_dir,     events,
                                     rpc::spec_text};
  pipeline_env.change_page = change_page.get();
  if (auto* page = change_page.get()) {
    watch_backends.inotify->observe_drains([page](bool reading) { reading ? page->drain_begin() : page->drain_end(); });
    pybind11_helpers.on_version([page] { page->bump_global(); });
  }
  rpc::Dispatcher dispatcher;
  rpc::Services* services_ptr = nullptr;

  const std::string token = app::make_token();
  auto health = [&services_ptr](bool authorized) {
    nlohmann::json body = {{"status", "ok"}, {"version", PRESTAGE_VERSION}, {"uptime_s", services_ptr ? services_ptr->identity.uptime_s() : 0}};
    if (authorized && services_ptr) body.update(services_ptr->counts());
    return body;
  };
  auto listener = std::make_shared<transport::Listener>(ioc, transport::TransportConfig{token, options.port, {}},
                                                        transport::Endpoints{&dispatcher, &notifier, health});
  // The change page and the inotify fd, for clients that check "nothing changed" without asking.
  auto handoff = std::make_shared<transport::HandoffListener>(ioc, state_dir / "handoff.sock", token, [&] {
    transport::HandoffListener::Handout out;
    std::string why;
    if (change_page && !options.poll_only && watch_backends.inotify->open(why))
      out = transport::HandoffListener::Handout{{"change_page", "inotify"}, {change_page->reader_fd(), watch_backends.inotify->native_fd()}};
    return out;
  });

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  ShutdownWatchdog watchdog;
  bool shutting_down = false;
  auto request_shutdown = [&] {
    net::post(ioc, [&] {
      if (shutting_down) return;
      shutting_down = true;
      spdlog::info("shutting down");
      app::remove_server_json(state_dir);
      signals.cancel();
      project_manager.stop_pipelines();
      listener->stop();
      handoff->stop();
      watchdog.arm(ioc, std::chrono::seconds(5));
    });
  };

  rpc::ServerIdentity identity{PRESTAGE_VERSION, static_cast<int>(::getpid()), listener->port(), state_dir, util::now_iso8601()};
  rpc::Services services{project_manager, notifier, identity, request_shutdown, options.jobs};
  services_ptr = &services;
  rpc::register_all(dispatcher, services);
  project_manager.set_on_changed([&notifier] { notifier.broadcast("projects/changed", nlohmann::json::object()); });

  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received signal {}", signal);
    request_shutdown();
  });

  project_manager.enable_pipelines(pipeline_env);
  app::write_server_json(state_dir, {identity.pid, identity.port, token, identity.version, identity.started_at});
  listener->run();
  if (std::string why; !handoff->run(why)) spdlog::warn("{}; every import and reload asks the daemon", why);
  spdlog::info("prestaged {} listening on 127.0.0.1:{} (state dir {})", PRESTAGE_VERSION, listener->port(), state_dir.string());

  for (;;) {
    try {
      ioc.run();
      break;
    } catch (const std::exception& e) {
      spdlog::error("unexpected exception on the io thread: {}", e.what());
    }
  }
  project_manager.stop_pipelines();
  workers.join();
  ioc.restart();
  ioc.poll();  // lets work posted back by the pool see the stopped pipelines and let go of them
  app::remove_server_json(state_dir);
  spdlog::info("stopped");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  app::Options options;
  try {
    options = app::parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const app::UsageError& e) {
    std::fprintf(stderr, "prestaged: %s\n%s", e.what(), app::usage_text().c_str());
    return 2;
  }
  if (options.show_help) {
    std::cout << app::usage_text();
    return 0;
  }
  if (options.show_version) {
    std::cout << "prestaged " << PRESTAGE_VERSION << "\n";
    return 0;
  }
  auto logger = spdlog::stderr_color_mt("prestaged");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  try {
    return run_daemon(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "prestaged: %s\n", e.what());
    return 1;
  }
}
