#pragma once
// Thread rules that are checked, not only written. The daemon has one io thread (network, RPC,
// every project's state) and a worker pool (hashing, staging, interpreter queries, blocking file
// work). main() binds the io thread before it runs; io-only entry points call assert_on_io(), and
// code that blocks calls assert_off_io(). A broken rule aborts with the function's name, in every
// build type: it is a comparison of thread ids. Unit tests that bind no io thread check nothing.
namespace prestage::util {

// Marks the calling thread as the io thread (once, from main; tests may rebind).
void bind_io_thread();
void unbind_io_thread();
bool on_io_thread();

void assert_on_io(const char* where);
void assert_off_io(const char* where);
}  // namespace prestage::util
