#include "stage/generation_store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <random>
#include <stdexcept>

#include "util/clock.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "watch/ignore.hpp"

namespace prestage::stage {
namespace {
constexpr const char* counter_file = "generation-counter.json";
constexpr const char* sources_file = "sources.json";
constexpr const char* manifest_file = "manifest.json";

[[noreturn]] void throw_errno(const std::string& what, const fs::path& path) {
  int err = errno;
  throw StageError(std::error_code(err, std::generic_category()), what + " " + path.string() + ": " + std::strerror(err));
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(::getpid()) + "." + std::to_string(rng() & 0xffffffff);
}

void validate_python_key(const std::string& key) {
  if (key.empty() || key.size() > 200 || key.front() == '.' || key.find('/') != std::string::npos || key.find('\0') != std::string::npos ||
      key.find(".tmp") != std::string::npos)
    throw std::invalid_argument("invalid python_key \"" + key + "\": must be a non-empty path component, not starting with '.' and without \".tmp\"");
}

// A relpath inside the generation dir; rejects absolute paths, '..' and the reserved manifest name.
fs::path checked_relpath(const fs::path& rel, const char* what) {
  fs::path norm = rel.lexically_normal();
  if (rel.empty() || norm.is_absolute() || norm.empty() || norm == "." || *norm.begin() == ".." || norm == manifest_file)
    throw std::invalid_argument(std::string("invalid ") + what + " relpath \"" + rel.string() + "\": must stay inside the generation");
  return norm;
}

std::optional<std::uint64_t> parse_generation_name(const std::string& name) {
  if (name.rfind("gen-", 0) != 0 || name.size() == 4) return std::nullopt;
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), n);
  if (ec != std::errc() || ptr != name.data() + name.size() || n == 0) return std::nullopt;
  return n;
}

std::string hash_of_files(const std::map<std::string, std::string>& files) {
  util::Sha256 h;
  for (const auto& [rel, sha] : files) {
    h.update(rel);
    h.update(std::string_view("\0", 1));
    h.update(sha);
    h.update("\n");
  }
  return h.hex_digest();
}

// Rehashes a published generation dir (everything but the manifest), as publish() computed content_hash.
std::string hash_generation_dir(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    if (!it->is_regular_file()) continue;
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel == manifest_file) continue;
    files[rel] = util::sha256_file(it->path());
  }
  return hash_of_files(files);
}

// Replaces `path` via temp file + rename; fsyncs only when durable.
void write_atomic(const fs::path& path, std::string_view content, bool durable) {
  util::write_file_atomic(path, content, fs::perms(0644), durable ? util::Sync::durable : util::Sync::atomic_only);
}

// Copies the tree into a temp dir, hashing every byte it writes; tracks dirs for fsync.
class Stager {
 public:
  Stager(fs::path dir, bool durable) : dir_(std::move(dir)), durable_(durable) { dirs_.insert(dir_); }

  // Fresh copy (new inode: written, never linked). Returns the sha256 of the bytes written.
  std::string copy_file(const fs::path& from, const fs::path& rel) {
    fs::path to = prepare(rel);
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw_errno("cannot open", from);
    struct stat st {};
    if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(in);
      errno = EINVAL;
      throw_errno("not a regular file:", from);
    }
    int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (st.st_mode & 0777) | S_IRUSR | S_IWUSR);
    if (out < 0) {
      int err = errno;
      ::close(in);
      errno = err;
      throw_errno("cannot create", to);
    }
    util::Sha256 hasher;
    std::uint64_t size = 0;
    try {
      char buf[1 << 16];
      for (;;) {
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0) {
          if (errno == EINTR) continue;
          throw_errno("cannot read", from);
        }
        if (n == 0) break;
        util::write_all(out, std::string_view(buf, static_cast<size_t>(n)), to);
        hasher.update(std::string_view(buf, static_cast<size_t>(n)));
        size += static_cast<std::uint64_t>(n);
      }
      if (durable_ && ::fsync(out) != 0) throw_errno("cannot fsync", to);
    } catch (...) {
      ::close(in);
      ::close(out);
      throw;
    }
    ::close(in);
    if (::close(out) != 0) throw_errno("cannot write", to);
    return record(rel, hasher.hex_digest(), size);
  }

  std::string write_file(const fs::path& rel, std::string_view content) {
    fs::path to = prepare(rel);
    int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) throw_errno("cannot create", to);
    try {
      util::write_all(out, content, to);
      if (durable_ && ::fsync(out) != 0) throw_errno("cannot fsync", to);
    } catch (...) {
      ::close(out);
      throw;
    }
    if (::close(out) != 0) throw_errno("cannot write", to);
    return record(rel, util::sha256_hex(content), content.size());
  }

  void copy_tree(const fs::path& source, const fs::path& dest_rel) {
    std::error_code ec;
    if (!fs::is_directory(source, ec)) {
      errno = ENOTDIR;
      throw_errno("package source is not a directory:", source);
    }
    fs::recursive_directory_iterator it(source, fs::directory_options::none, ec);
    if (ec) throw StageError(ec, "cannot list " + source.string() + ": " + ec.message());
    for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
      if (ec) throw StageError(ec, "cannot list " + source.string() + ": " + ec.message());
      const fs::path& path = it->path();
      std::string name = path.filename().string();
      std::error_code sec;
      if (it->is_directory(sec)) {
        if (it->is_symlink(sec) || watch::is_ignored_dir(name)) it.disable_recursion_pending();
        continue;
      }
      if (watch::is_ignored_file(name) || !it->is_regular_file(sec)) continue;
      copy_file(path, dest_rel / path.lexically_relative(source));
    }
  }

  void fsync_dirs() const {
    if (!durable_) return;
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) util::fsync_dir(*it);
  }

  std::string content_hash() const { return hash_of_files(files_); }

  // Every file staged so far (sorted by relpath), for a dist-info RECORD.
  std::vector<RecordEntry> record_entries() const {
    std::vector<RecordEntry> out;
    out.reserve(files_.size());
    for (const auto& [rel, sha] : files_) out.push_back({rel, sha, sizes_.at(rel)});
    return out;
  }

 private:
  fs::path prepare(const fs::path& rel) {
    fs::path to = dir_ / rel;
    fs::path parent = to.parent_path();
    if (!dirs_.count(parent)) {
      std::error_code ec;
      fs::create_directories(parent, ec);
      if (ec) throw StageError(ec, "cannot create " + parent.string() + ": " + ec.message());
      for (fs::path p = parent; p != dir_ && p.has_relative_path(); p = p.parent_path()) dirs_.insert(p);
    }
    if (::unlink(to.c_str()) != 0 && errno != ENOENT) throw_errno("cannot replace", to);  // a later entry wins
    return to;
  }

  std::string record(const fs::path& rel, std::string sha, std::uint64_t size) {
    files_[rel.generic_string()] = sha;
    sizes_[rel.generic_string()] = size;
    return sha;
  }

  fs::path dir_;
  bool durable_;
  std::set<fs::path> dirs_;
  std::map<std::string, std::string> files_;  // relpath -> sha256
  std::map<std::string, std::uint64_t> sizes_;  // relpath -> bytes
};
}  // namespace

void to_json(nlohmann::json& j, const StagedArtifact& a) { j = {{"module", a.module}, {"relpath", a.relpath}, {"sha256", a.sha256}}; }

void from_json(const nlohmann::json& j, StagedArtifact& a) {
  a.module = j.at("module").get<std::string>();
  a.relpath = j.at("relpath").get<std::string>();
  a.sha256 = j.at("sha256").get<std::string>();
}

void to_json(nlohmann::json& j, const Manifest& m) {
  j = {{"format", 1},
       {"generation", m.generation},
       {"project_id", m.project_id},
       {"python_key", m.python_key},
       {"python", m.python},
       {"source_hash", m.source_hash},
       {"content_hash", m.content_hash},
       {"created_at", m.created_at},
       {"duration_ms", m.duration_ms},
       {"artifacts", m.artifacts},
       {"diagnostics", m.diagnostics}};
  if (!m.dist_info.empty()) {
    j["distribution"] = m.distribution;
    j["dist_info"] = m.dist_info;
  }
}

void from_json(const nlohmann::json& j, Manifest& m) {
  if (!j.is_object()) throw std::invalid_argument("manifest: expected an object");
  try {
    m.generation = j.at("generation").get<std::uint64_t>();
    m.project_id = j.value("project_id", "");
    m.python_key = j.value("python_key", "");
    m.python = j.value("python", "");
    m.source_hash = j.value("source_hash", "");
    m.content_hash = j.at("content_hash").get<std::string>();
    m.created_at = j.value("created_at", "");
    m.duration_ms = j.value("duration_ms", std::int64_t{0});
    m.artifacts = j.value("artifacts", std::vector<StagedArtifact>{});
    m.diagnostics = j.value("diagnostics", std::vector<Diagnostic>{});
    m.distribution = j.value("distribution", "");
    m.dist_info = j.value("dist_info", "");
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("manifest: ") + e.what());
  }
  if (m.generation == 0) throw std::invalid_argument("manifest: \"generation\" must be positive");
}

std::string artifact_relpath(const std::string& module, const std::string& ext_suffix) {
  if (module.empty() || module.front() == '.' || module.back() == '.' || module.find("..") != std::string::npos ||
      module.find('/') != std::string::npos)
    throw std::invalid_argument("invalid artifact module name \"" + module + "\"");
  if (ext_suffix.empty() || ext_suffix.find('/') != std::string::npos)
    throw std::invalid_argument("invalid ext_suffix \"" + ext_suffix + "\" for artifact \"" + module + "\"");
  std::string rel = module;
  for (char& c : rel)
    if (c == '.') c = '/';
  return rel + ext_suffix;
}

GenerationStore::GenerationStore(fs::path project_state_dir, StoreOptions options)
    : root_(std::move(project_state_dir)), options_(options) {}

fs::path GenerationStore::generation_dir(const std::string& python_key, std::uint64_t n) const {
  return root_ / python_key / ("gen-" + std::to_string(n));
}

void GenerationStore::recover() {
  std::lock_guard lock(mutex_);
  recover_locked();
}

void GenerationStore::ensure_loaded() const {
  if (!loaded_) recover_locked();
}

void GenerationStore::recover_locked() const {
  loaded_ = true;
  version_.fetch_add(1, std::memory_order_acq_rel);
  generations_.clear();
  std::uint64_t persisted = 0;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) {
    last_number_ = 0;
    return;
  }
  try {
    auto j = nlohmann::json::parse(util::read_file(root_ / counter_file));
    persisted = j.at("last").get<std::uint64_t>();
  } catch (const std::exception& e) {
    if (fs::exists(root_ / counter_file, ec)) spdlog::warn("generations: ignoring unreadable {}: {}", (root_ / counter_file).string(), e.what());
  }
  std::uint64_t seen = 0;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    std::string name = entry.path().filename().string();
    std::error_code sec;
    if (name.find(".tmp") != std::string::npos) {  // temp files of atomic writes, half-written or half-deleted dirs
      fs::remove_all(entry.path(), sec);
      continue;
    }
    if (!entry.is_directory(sec) || name.front() == '.') continue;
    for (const auto& gen : fs::directory_iterator(entry.path(), sec)) {
      std::string gen_name = gen.path().filename().string();
      std::error_code gec;
      if (gen_name.find(".tmp") != std::string::npos) {
        if (in_flight_.count(gen.path())) continue;
        spdlog::info("generations: removing half-written {}", gen.path().string());
        fs::remove_all(gen.path(), gec);
        continue;
      }
      auto number = parse_generation_name(gen_name);
      if (!number || !gen.is_directory(gec)) continue;
      try {
        Manifest m = nlohmann::json::parse(util::read_file(gen.path() / manifest_file)).get<Manifest>();
        if (m.generation != *number) throw std::invalid_argument("manifest number " + std::to_string(m.generation) + " does not match the directory");
        if (options_.verify_on_recover && hash_generation_dir(gen.path()) != m.content_hash)
          throw std::invalid_argument("files do not match the manifest's content_hash (torn write?)");
        m.python_key = name;
        seen = std::max(seen, m.generation);
        generations_[name][m.generation] = std::move(m);
      } catch (const std::exception& e) {
        spdlog::warn("generations: removing {} with an unreadable manifest: {}", gen.path().string(), e.what());
        fs::remove_all(gen.path(), gec);
        seen = std::max(seen, *number);
      }
    }
    if (generations_.count(name) == 0) generations_.erase(name);
  }
  last_number_ = std::max(persisted, seen);
}

std::uint64_t GenerationStore::allocate_number() {
  std::lock_guard lock(mutex_);
  ensure_loaded();
  return allocate_locked();
}

std::uint64_t GenerationStore::allocate_locked() {
  std::uint64_t n = last_number_ + 1;
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw StageError(ec, "cannot create " + root_.string() + ": " + ec.message());
  try {
    write_atomic(root_ / counter_file, nlohmann::json{{"last", n}}.dump(), options_.durable);
  } catch (const std::system_error& e) {
    throw StageError(e.code(), std::string("cannot persist the generation counter: ") + e.what());
  }
  last_number_ = n;
  return n;
}

std::uint64_t GenerationStore::last_number() const {
  std::lock_guard lock(mutex_);
  ensure_loaded();
  return last_number_;
}

std::optional<Manifest> GenerationStore::publish(const PackageLayout& layout, Manifest draft) {
  validate_python_key(draft.python_key);
  if (!layout.error.empty()) throw std::invalid_argument(layout.error);
  if (!layout.artifacts.empty() && layout.ext_suffix.empty()) throw std::invalid_argument("layout has artifacts but no ext_suffix");
  {
    std::lock_guard lock(mutex_);
    ensure_loaded();
  }
  fs::path key_dir = root_ / draft.python_key;
  std::error_code ec;
  fs::create_directories(key_dir, ec);
  if (ec) throw StageError(ec, "cannot create " + key_dir.string() + ": " + ec.message());
  fs::path tmp = key_dir / (".gen.tmp." + random_suffix());
  {
    std::lock_guard lock(mutex_);
    in_flight_.insert(tmp);
  }
  struct InFlight {
    GenerationStore& store;
    const fs::path& tmp;
    ~InFlight() {
      std::lock_guard lock(store.mutex_);
      store.in_flight_.erase(tmp);
    }
  } in_flight{*this, tmp};
  auto discard = [&] {
    std::error_code rec;
    fs::remove_all(tmp, rec);
  };
  try {
    if (!fs::create_directory(tmp, ec) || ec) throw StageError(ec, "cannot create " + tmp.string() + ": " + ec.message());
    Stager stager(tmp, options_.durable);
    for (const auto& [source, dest] : layout.trees) stager.copy_tree(source, dest.empty() || dest == "." ? fs::path() : checked_relpath(dest, "tree"));
    for (const auto& [rel, content] : layout.generated) stager.write_file(checked_relpath(rel, "generated file"), content);
    for (const auto& [rel, source] : layout.extra_files) stager.copy_file(source, checked_relpath(rel, "extra file"));
    draft.artifacts.clear();
    for (const auto& [module, source] : layout.artifacts) {
      std::string rel = artifact_relpath(module, layout.ext_suffix);
      draft.artifacts.push_back({module, rel, stager.copy_file(source, rel)});
    }
    for (const auto& [module, rel, source] : layout.placed_artifacts) {
      std::string checked = checked_relpath(rel, "extension").generic_string();
      draft.artifacts.push_back({module, checked, stager.copy_file(source, checked)});
    }
    draft.distribution.clear();
    draft.dist_info.clear();
    if (layout.distribution) {  // last: its RECORD lists every file staged before it
      const std::string dir = dist_info_dir_name(*layout.distribution);
      for (const auto& [rel, content] : dist_info_files(*layout.distribution)) stager.write_file(checked_relpath(rel, "dist-info"), content);
      stager.write_file(checked_relpath(dir + "/RECORD", "dist-info"), record_text(stager.record_entries(), dir));
      draft.distribution = layout.distribution->name;
      draft.dist_info = dir;
    }
    draft.content_hash = stager.content_hash();
    {
      std::lock_guard lock(mutex_);
      auto& gens = generations_[draft.python_key];
      bool unchanged = !gens.empty() && gens.rbegin()->second.content_hash == draft.content_hash;
      if (gens.empty()) generations_.erase(draft.python_key);
      if (unchanged) {
        discard();
        return std::nullopt;
      }
      if (draft.generation == 0) draft.generation = allocate_locked();
      else if (draft.generation > last_number_) throw std::invalid_argument("generation " + std::to_string(draft.generation) + " was never allocated");
    }
    if (draft.created_at.empty()) draft.created_at = util::now_iso8601();
    stager.fsync_dirs();
    write_atomic(tmp / manifest_file, nlohmann::json(draft).dump(2), options_.durable);
    fs::path final_dir = generation_dir(draft.python_key, draft.generation);
    if (fs::exists(final_dir, ec)) throw StageError(std::make_error_code(std::errc::file_exists), "generation dir " + final_dir.string() + " already exists");
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) throw_errno("cannot rename into", final_dir);
    if (options_.durable) util::fsync_dir(key_dir);
  } catch (const StageError&) {
    discard();
    throw;
  } catch (const std::system_error& e) {
    discard();
    throw StageError(e.code(), std::string("cannot stage generation: ") + e.what());
  } catch (...) {
    discard();
    throw;
  }
  std::lock_guard lock(mutex_);
  generations_[draft.python_key][draft.generation] = draft;
  version_.fetch_add(1, std::memory_order_acq_rel);
  return draft;
}

std::optional<Manifest> GenerationStore::latest(const std::string& python_key) const {
  std::lock_guard lock(mutex_);
  ensure_loaded();
  auto it = generations_.find(python_key);
  if (it == generations_.end() || it->second.empty()) return std::nullopt;
  return it->second.rbegin()->second;
}

std::optional<Manifest> GenerationStore::get(const std::string& python_key, std::uint64_t n) const {
  std::lock_guard lock(mutex_);
  ensure_loaded();
  auto it = generations_.find(python_key);
  if (it == generations_.end()) return std::nullopt;
  auto g = it->second.find(n);
  if (g == it->second.end()) return std::nullopt;
  return g->second;
}

std::vector<Manifest> GenerationStore::list(const std::string& python_key) const {
  std::lock_guard lock(mutex_);
  ensure_loaded();
  std::vector<Manifest> out;
  auto it = generations_.find(python_key);
  if (it == generations_.end()) return out;
  for (auto g = it->second.rbegin(); g != it->second.rend(); ++g) out.push_back(g->second);
  return out;
}

std::vector<std::string> GenerationStore::python_keys() const {
  std::lock_guard lock(mutex_);
  ensure_loaded();
  std::vector<std::string> out;
  for (const auto& [key, gens] : generations_)
    if (!gens.empty()) out.push_back(key);
  return out;
}

void GenerationStore::gc(const std::string& python_key, std::size_t keep, const std::set<std::uint64_t>& pinned) {
  validate_python_key(python_key);
  keep = std::max<std::size_t>(keep, 1);
  std::vector<fs::path> doomed;
  {
    std::lock_guard lock(mutex_);
    ensure_loaded();
    auto it = generations_.find(python_key);
    if (it == generations_.end()) return;
    auto& gens = it->second;
    std::size_t rank = 0;
    bool announced = false;
    for (auto g = gens.rbegin(); g != gens.rend();) {
      std::uint64_t n = g->first;
      if (rank++ < keep || pinned.count(n)) {
        ++g;
        continue;
      }
      if (!announced) {  // before the first rename: a reader that sees the old version ran before this gc
        version_.fetch_add(1, std::memory_order_acq_rel);
        announced = true;
      }
      // Rename first so a crash mid-delete leaves a *.tmp dir for recover(), never a gen dir missing files.
      fs::path from = generation_dir(python_key, n);
      fs::path to = root_ / python_key / (".gc-" + std::to_string(n) + ".tmp." + random_suffix());
      if (::rename(from.c_str(), to.c_str()) != 0) {
        spdlog::warn("generations: cannot remove {}: {}", from.string(), std::strerror(errno));
        ++g;
        continue;
      }
      doomed.push_back(to);
      g = std::make_reverse_iterator(gens.erase(std::next(g).base()));
    }
  }
  for (const auto& dir : doomed) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) spdlog::warn("generations: cannot delete {}: {}", dir.string(), ec.message());
  }
}

void GenerationStore::save_sources(const nlohmann::json& snapshot) {
  std::string text = snapshot.dump();
  std::lock_guard lock(mutex_);  // recover() must not delete the temp file mid-write
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw StageError(ec, "cannot create " + root_.string() + ": " + ec.message());
  try {
    write_atomic(root_ / sources_file, text, options_.durable);
  } catch (const std::system_error& e) {
    throw StageError(e.code(), std::string("cannot save the source snapshot: ") + e.what());
  }
}

std::optional<nlohmann::json> GenerationStore::load_sources() const {
  fs::path path = root_ / sources_file;
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return nlohmann::json::parse(util::read_file(path));
  } catch (const std::exception& e) {
    spdlog::warn("generations: ignoring unreadable {}: {}", path.string(), e.what());
    return std::nullopt;
  }
}
}  // namespace prestage::stage
