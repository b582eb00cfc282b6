#include "rpc/methods/methods.hpp"

namespace prestage::rpc {
void register_all(Dispatcher& dispatcher, Services& services) {
  register_initialize(dispatcher, services);
  register_server_info(dispatcher, services);
  register_shutdown(dispatcher, services);
  register_project_open(dispatcher, services);
  register_project_close(dispatcher, services);
  register_project_list(dispatcher, services);
  register_build_run(dispatcher, services);
  register_build_log(dispatcher, services);
  register_generation_list(dispatcher, services);
  register_spec_resolve(dispatcher, services);
  register_reload_request(dispatcher, services);
  register_file_saved(dispatcher, services);
  register_sync(dispatcher, services);
}
}  // namespace prestage::rpc
