#include "util/thread_check.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace prestage::util {
namespace {
std::atomic<std::thread::id> io_thread{};

[[noreturn]] void broken(const char* where, const char* rule) {
  std::fprintf(stderr, "prestaged: thread rule broken: %s %s\n", where, rule);
  std::abort();
}
}  // namespace

void bind_io_thread() { io_thread.store(std::this_thread::get_id()); }
void unbind_io_thread() { io_thread.store(std::thread::id{}); }
bool on_io_thread() { return io_thread.load() == std::this_thread::get_id(); }

void assert_on_io(const char* where) {
  auto io = io_thread.load();
  if (io != std::thread::id{} && io != std::this_thread::get_id()) broken(where, "must run on the io thread");
}

void assert_off_io(const char* where) {
  if (io_thread.load() == std::this_thread::get_id()) broken(where, "blocks and must not run on the io thread");
}
}  // namespace prestage::util
