#include "builders/interpreter.hpp"

#include "util/thread_check.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>

#include "builders/process_runner.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace prestage::builders {
namespace {
constexpr const char* query_script =
    "import json, sys, sysconfig\n"
    "print(json.dumps({'version': '%d.%d.%d' % tuple(sys.version_info[:3]),\n"
    "  'major': sys.version_info[0], 'minor': sys.version_info[1],\n"
    "  'implementation': sys.implementation.name,\n"
    "  'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX'),\n"
    "  'include': sysconfig.get_path('include')}))\n";

std::string file_stamp(const fs::path& python) {
  std::error_code ec;
  fs::path real = fs::canonical(python, ec);
  if (ec) return {};
  auto size = fs::file_size(real, ec);
  auto mtime = fs::last_write_time(real, ec).time_since_epoch().count();
  return real.string() + "|" + std::to_string(size) + "|" + std::to_string(mtime);
}

// Why `python` cannot be an interpreter, or nullopt.
std::optional<std::string> path_problem(const fs::path& python) {
  if (python.empty() || !python.is_absolute()) return "python interpreter path must be absolute: '" + python.string() + "'";
  std::error_code ec;
  if (!fs::exists(python, ec)) return "python interpreter not found: " + python.string();
  if (fs::is_directory(python, ec)) return "python interpreter is a directory: " + python.string();
  if (::access(python.c_str(), X_OK) != 0) return "python interpreter is not executable: " + python.string();
  return std::nullopt;
}

void check_path(const fs::path& python) {
  if (auto problem = path_problem(python)) throw BuildError(*problem);
}
}  // namespace

void to_json(nlohmann::json& j, const Interpreter& i) {
  j = {{"executable", i.executable.string()},
       {"key", i.key},
       {"version", i.version},
       {"ext_suffix", i.ext_suffix},
       {"include_dir", i.include_dir.string()}};
}

void from_json(const nlohmann::json& j, Interpreter& i) {
  i.executable = j.at("executable").get<std::string>();
  i.key = j.at("key").get<std::string>();
  i.version = j.at("version").get<std::string>();
  i.ext_suffix = j.at("ext_suffix").get<std::string>();
  i.include_dir = j.at("include_dir").get<std::string>();
}

Interpreter query_interpreter(const fs::path& python) {
  check_path(python);
  boost::asio::io_context io;
  std::string stdout_text, stderr_tail;
  ProcessExit exit_info;
  bool done = false;
  ProcessSpec spec{python, {"-I", "-c", query_script}, python.parent_path(), {}};
  std::shared_ptr<ProcessRun> run;
  try {
    run = ProcessRun::start(
        io, spec,
        [&](StreamKind kind, const std::string& line) {
          if (kind == StreamKind::out) {
            if (stdout_text.size() < 65536) stdout_text += line + "\n";
          } else if (stderr_tail.size() < 4096) {
            stderr_tail += line + "\n";
          }
        },
        [&](ProcessExit e) {
          exit_info = e;
          done = true;
        });
  } catch (const std::exception& e) {
    throw BuildError("cannot run python interpreter " + python.string() + ": " + e.what());
  }
  boost::asio::steady_timer timeout(io, std::chrono::seconds(30));
  timeout.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) run->cancel(std::chrono::milliseconds(500));
  });
  while (!done && io.run_one()) {
    if (done) timeout.cancel();
  }
  timeout.cancel();
  run.reset();
  io.run();

  const std::string who = python.string();
  if (exit_info.cancelled) throw BuildError(who + " did not answer the interpreter query within 30 s");
  nlohmann::json answer;
  std::size_t start = 0;
  while (start < stdout_text.size()) {
    std::size_t end = stdout_text.find('\n', start);
    if (end == std::string::npos) end = stdout_text.size();
    auto parsed = nlohmann::json::parse(stdout_text.substr(start, end - start), nullptr, false);
    if (parsed.is_object()) answer = parsed;
    start = end + 1;
  }
  if (exit_info.signaled || exit_info.exit_code != 0 || !answer.is_object()) {
    std::string detail = stderr_tail.empty() ? std::string("no answer") : stderr_tail;
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    throw BuildError(who + " is not a working Python >= 3.9 interpreter: " + detail);
  }
  int major = answer.value("major", 0), minor = answer.value("minor", 0);
  if (major != 3 || minor < 9) {
    throw BuildError(who + " is Python " + answer.value("version", std::string("?")) + "; prestage needs Python >= 3.9");
  }
  if (!answer["ext_suffix"].is_string() || !answer["include"].is_string())
    throw BuildError(who + " reports no EXT_SUFFIX or include dir; is it a full CPython installation?");

  Interpreter out;
  out.executable = python;
  out.version = answer.value("version", "");
  out.ext_suffix = answer["ext_suffix"].get<std::string>();
  out.include_dir = answer["include"].get<std::string>();
  std::string impl = answer.value("implementation", "cpython");
  std::string prefix = impl == "cpython" ? "cp" : impl.substr(0, 2);
  std::error_code ec;
  fs::path real = fs::canonical(python, ec);
  out.key = prefix + std::to_string(major) + std::to_string(minor) + "-" +
            util::sha256_hex((ec ? python : real).string()).substr(0, 8);
  return out;
}

InterpreterCache::InterpreterCache(fs::path cache_file, std::chrono::milliseconds recheck_after)
    : cache_file_(std::move(cache_file)), recheck_after_(recheck_after) {
  load();
}

void InterpreterCache::load() {
  std::error_code ec;
  if (cache_file_.empty() || !fs::exists(cache_file_, ec)) return;
  try {
    auto j = nlohmann::json::parse(util::read_file(cache_file_));
    for (const auto& [path, value] : j.at("interpreters").items()) {
      Entry entry;
      entry.facts = std::make_shared<const Interpreter>(value.at("interpreter").get<Interpreter>());
      entry.file_stamp = value.at("stamp").get<std::string>();
      entries_[path] = std::move(entry);
    }
  } catch (const std::exception&) {
    entries_.clear();  // a damaged cache is just re-asked
  }
}

void InterpreterCache::save() const {
  if (cache_file_.empty()) return;
  nlohmann::json items = nlohmann::json::object();
  for (const auto& [path, entry] : entries_)
    if (entry.facts) items[path] = {{"interpreter", *entry.facts}, {"stamp", entry.file_stamp}};
  std::error_code ec;
  fs::create_directories(cache_file_.parent_path(), ec);
  try {
    util::write_file_atomic(cache_file_, nlohmann::json{{"version", 1}, {"interpreters", items}}.dump(2));
  } catch (const std::exception&) {
    // The in-memory cache still works; the next start just asks again.
  }
}

int InterpreterCache::queries_run() const {
  std::lock_guard lock(mutex_);
  return queries_run_;
}

InterpreterCache::Lookup InterpreterCache::lookup_locked(const std::string& python, Clock::time_point now) {
  auto it = entries_.find(python);
  if (it == entries_.end()) it = entries_.emplace(python, Entry{}).first;
  Entry& entry = it->second;
  if (entry.checked && now - entry.checked_at < recheck_after_) {
    if (!entry.error.empty()) return {nullptr, entry.error};
    if (entry.facts) return {entry.facts, {}};
  }
  // Stale (or never checked): look at the file again.
  if (auto problem = path_problem(python)) {
    entry.error = std::move(*problem);
    entry.checked = true;
    entry.checked_at = now;
    return {nullptr, entry.error};
  }
  if (entry.facts && entry.file_stamp == file_stamp(python)) {
    entry.error.clear();
    entry.checked = true;
    entry.checked_at = now;
    return {entry.facts, {}};
  }
  return {};  // new, changed on disk, or a failure older than the bound: needs a query
}

InterpreterCache::Lookup InterpreterCache::lookup(const std::string& python) {
  std::lock_guard lock(mutex_);
  return lookup_locked(python, Clock::now());
}

InterpreterCache::Facts InterpreterCache::get_blocking(const std::string& python) {
  util::assert_off_io("InterpreterCache::get_blocking");
  {
    std::unique_lock lock(mutex_);
    for (;;) {
      Lookup known = lookup_locked(python, Clock::now());
      if (known.facts) return known.facts;
      if (!known.error.empty()) throw BuildError(known.error);
      if (!querying_.count(python)) break;
      query_done_.wait(lock);  // another thread is asking this interpreter; use its answer
    }
    querying_.insert(python);
    ++queries_run_;
  }
  const std::string stamp = file_stamp(python);  // taken before the query: a change during it is seen next time
  Facts fresh;
  std::string error;
  try {
    fresh = std::make_shared<const Interpreter>(query_interpreter(python));
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[python];
  entry.facts = fresh;
  entry.error = error;
  entry.file_stamp = stamp;
  entry.checked = true;
  entry.checked_at = Clock::now();
  querying_.erase(python);
  query_done_.notify_all();
  if (!fresh) throw BuildError(error);
  save();
  return fresh;
}
}  // namespace prestage::builders
