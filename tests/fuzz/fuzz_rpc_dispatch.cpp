// Fuzzes the JSON-RPC surface: any bytes as an HTTP body / WebSocket message -> Dispatcher::handle
// with every registered method against a real ProjectManager (no network, no build pipelines).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static prestage::fuzz::RpcStack stack;
  stack.dispatch(std::string_view(reinterpret_cast<const char*>(data), size));
  stack.reset_if_large();
  return 0;
}
