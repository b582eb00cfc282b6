#include "builders/pybind11_helper.hpp"

#include "util/thread_check.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "builders/build.hpp"
#include "builders/pybind11_helper_source.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace prestage::builders {

namespace {
// The daemon's CXXFLAGS (as CMake builds of the project get them), so that the helper, which runs
// inside the user's interpreter next to the project's extensions, is built like them (e.g. ASan).
std::vector<std::string> cxxflags_from_environment() {
  std::vector<std::string> flags;
  const char* value = std::getenv("CXXFLAGS");
  std::istringstream words(value ? value : "");
  for (std::string word; words >> word;) flags.push_back(word);
  return flags;
}
}  // namespace

std::string Pybind11Helpers::key_of(const Interpreter& python, const fs::path& pybind11_include) const {
  std::string flags_key;
  for (const auto& flag : cxxflags_from_environment()) flags_key += " " + flag;
  return python.key + "-" +
         util::sha256_hex(std::string(kPybind11HelperSource) + "\n" + pybind11_include.string() + flags_key).substr(0, 12);
}

bool Pybind11Helpers::compiling(const Interpreter& python, const fs::path& pybind11_include) const {
  util::assert_on_io("Pybind11Helpers::compiling");
  if (pybind11_include.empty()) return false;
  auto it = entries_.find(key_of(python, pybind11_include));
  return it != entries_.end() && it->second.run != nullptr;
}

void Pybind11Helpers::when_settled(const Interpreter& python, const fs::path& pybind11_include, std::function<void()> then) {
  util::assert_on_io("Pybind11Helpers::when_settled");
  auto it = pybind11_include.empty() ? entries_.end() : entries_.find(key_of(python, pybind11_include));
  if (it == entries_.end() || !it->second.run) return boost::asio::post(io_, std::move(then));
  it->second.settled.push_back(std::move(then));
}

std::optional<fs::path> Pybind11Helpers::get(const Interpreter& python, const fs::path& pybind11_include) {
  util::assert_on_io("Pybind11Helpers::get");
  if (pybind11_include.empty()) return std::nullopt;
  const std::vector<std::string> cxxflags = cxxflags_from_environment();
  const std::string key = key_of(python, pybind11_include);
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& entry = it->second;
  if (entry.ready) return entry.output;
  if (!inserted) return std::nullopt;

  const fs::path dir = cache_dir_ / key;
  entry.output = dir / ("_prestage_pybind11" + python.ext_suffix);
  std::error_code ec;
  if (fs::is_regular_file(entry.output, ec)) {
    entry.ready = true;
    return entry.output;
  }
  auto gxx = find_on_path("g++");
  if (!gxx) {
    spdlog::warn("pybind11 helper: g++ not found on PATH; reloading pybind11 classes will rely on the client");
    entry.failed = true;
    return std::nullopt;
  }
  try {
    fs::create_directories(dir);
    util::write_file_atomic(dir / "prestage_pybind11.cpp", kPybind11HelperSource);
  } catch (const std::exception& e) {
    spdlog::warn("pybind11 helper: {}", e.what());
    entry.failed = true;
    return std::nullopt;
  }
  const fs::path partial = dir / ("partial" + python.ext_suffix);
  ProcessSpec spec{*gxx, {"-O2", "-shared", "-fPIC", "-std=c++17", "-fvisibility=hidden"}, dir, {}};
  spec.args.insert(spec.args.end(), cxxflags.begin(), cxxflags.end());
  if (pybind11_include != "/usr/include" && pybind11_include != "/usr/local/include") {
    spec.args.push_back("-isystem");
    spec.args.push_back(pybind11_include.string());
  }
  for (std::string a : {std::string("-isystem"), python.include_dir.string(), (dir / "prestage_pybind11.cpp").string(), std::string("-o"),
                        partial.string()})
    spec.args.push_back(std::move(a));
  auto log = std::make_shared<BoundedLog>(16 * 1024);
  try {
    entry.run = ProcessRun::start(
        io_, spec, [log](StreamKind, const std::string& line) { log->append_line(line); },
        [this, key, partial, log](ProcessExit exit) {
          Entry& e = entries_[key];
          e.run.reset();
          ++version_;
          std::error_code ec;
          if (!exit.signaled && exit.exit_code == 0) fs::rename(partial, e.output, ec);
          if (exit.signaled || exit.exit_code != 0 || ec) {
            e.failed = true;
            fs::remove(partial, ec);
            spdlog::warn("pybind11 helper failed to compile:\n{}", log->text());
          } else {
            e.ready = true;
            spdlog::info("pybind11 helper ready at {}", e.output.string());
          }
          if (on_version_) on_version_();
          for (auto& then : std::exchange(e.settled, {})) then();
        });
  } catch (const std::exception& e) {
    spdlog::warn("pybind11 helper: {}", e.what());
    entry.failed = true;
  }
  return std::nullopt;
}

fs::path pybind11_include_from_cmake_cache(const fs::path& cmake_cache) {
  std::ifstream in(cmake_cache);
  std::string line;
  const std::string prefix = "pybind11_DIR:";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) break;
    fs::path include = (fs::path(line.substr(eq + 1)) / ".." / ".." / ".." / "include").lexically_normal();
    std::error_code ec;
    if (fs::exists(include / "pybind11" / "pybind11.h", ec)) return include;
    break;
  }
  return {};
}
fs::path pybind11_include_dir() {
  if (const char* env = std::getenv("PRESTAGE_PYBIND11_INCLUDE"); env && *env) return fs::path(env);
  for (const char* dir : {"/usr/include", "/usr/local/include"}) {
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "pybind11" / "pybind11.h", ec)) return dir;
  }
  return {};
}

}  // namespace prestage::builders
