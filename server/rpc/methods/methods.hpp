#pragma once
// One file per method (watchman style); each registers its handler on the dispatcher.
#include "rpc/dispatcher.hpp"
#include "rpc/services.hpp"

namespace prestage::rpc {
void register_initialize(Dispatcher& dispatcher, Services& services);
void register_server_info(Dispatcher& dispatcher, Services& services);
void register_shutdown(Dispatcher& dispatcher, Services& services);
void register_project_open(Dispatcher& dispatcher, Services& services);
void register_project_close(Dispatcher& dispatcher, Services& services);
void register_project_list(Dispatcher& dispatcher, Services& services);
void register_build_run(Dispatcher& dispatcher, Services& services);
void register_build_log(Dispatcher& dispatcher, Services& services);
void register_generation_list(Dispatcher& dispatcher, Services& services);
void register_spec_resolve(Dispatcher& dispatcher, Services& services);
void register_reload_request(Dispatcher& dispatcher, Services& services);
void register_file_saved(Dispatcher& dispatcher, Services& services);
void register_sync(Dispatcher& dispatcher, Services& services);

// Registers every method above. `services` must outlive the dispatcher's use.
void register_all(Dispatcher& dispatcher, Services& services);
}  // namespace prestage::rpc
