#include "watch/source_tree.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>

#include "util/sha256.hpp"
#include "watch/ignore.hpp"

namespace prestage::watch {
namespace {
// Files modified this recently are rehashed on the next rescan even when size/mtime/inode match,
// because a same-size rewrite within one timestamp tick would otherwise go unnoticed.
constexpr std::int64_t racy_window_ns = 2'000'000'000;

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

// Remembers the hash each touched relpath had before an operation, to build a deduplicated delta.
struct SourceTree::Change {
  std::map<std::string, std::optional<std::string>> before;
};

bool SourceTree::Delta::empty() const { return changed.empty() && added.empty() && removed.empty(); }

std::vector<fs::path> SourceTree::Delta::all() const {
  std::vector<fs::path> out = changed;
  out.insert(out.end(), added.begin(), added.end());
  out.insert(out.end(), removed.begin(), removed.end());
  return out;
}

bool SourceTree::Delta::python_only() const {
  if (empty()) return false;
  for (const auto& p : all())
    if (!is_python_source(p)) return false;
  return true;
}

SourceTree::SourceTree(fs::path root, std::vector<fs::path> ignored_paths) : root_(normalize(root)) {
  for (auto& p : ignored_paths) ignored_paths_.push_back(normalize(p));
  std::error_code ec;
  single_file_ = !fs::is_directory(root_, ec);
}

std::string SourceTree::relpath(const fs::path& abs) const {
  if (single_file_) return root_.filename().generic_string();
  auto rel = abs.lexically_relative(root_).generic_string();
  return rel == "." ? std::string() : rel;
}

fs::path SourceTree::absolute_of(const std::string& rel) const { return single_file_ ? root_ : root_ / rel; }

bool SourceTree::tracked_candidate(const fs::path& abs) const {
  if (single_file_) return abs == root_;
  auto rel = abs.lexically_relative(root_);
  if (rel.empty() || *rel.begin() == "..") return false;
  if (is_under_any(abs, ignored_paths_)) return false;
  if (rel == ".") return true;
  auto last = std::prev(rel.end());
  for (auto it = rel.begin(); it != last; ++it)
    if (is_ignored_dir(it->string())) return false;
  return true;
}

void SourceTree::note(Change& change, const std::string& rel) const {
  if (change.before.count(rel)) return;
  auto it = files_.find(rel);
  change.before[rel] = it == files_.end() ? std::nullopt : std::optional<std::string>(it->second.sha256);
}

SourceTree::Delta SourceTree::finish(const Change& change) const {
  Delta delta;
  for (const auto& [rel, before] : change.before) {
    auto it = files_.find(rel);
    fs::path abs = absolute_of(rel);
    if (!before && it != files_.end()) delta.added.push_back(abs);
    else if (before && it == files_.end()) delta.removed.push_back(abs);
    else if (before && it != files_.end() && *before != it->second.sha256) delta.changed.push_back(abs);
  }
  return delta;
}

void SourceTree::update_file(const fs::path& abs, Scan how, Change& change, std::set<std::string>* seen) {
  std::string rel = relpath(abs);
  struct stat st {};
  if (::stat(abs.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    remove_under(rel, change, nullptr);
    return;
  }
  if (seen) seen->insert(rel);
  std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  auto it = files_.find(rel);
  if (how == Scan::trust_stat && it != files_.end() && !it->second.racy && it->second.size == static_cast<std::uintmax_t>(st.st_size) &&
      it->second.mtime_ns == mtime && it->second.inode == st.st_ino)
    return;
  std::string digest;
  try {
    digest = util::sha256_file(abs);
  } catch (const std::system_error& e) {
    std::error_code ec;
    if (!fs::exists(abs, ec)) {
      remove_under(rel, change, nullptr);
      if (seen) seen->erase(rel);
    } else {
      spdlog::warn("source tree: {}", e.what());
    }
    return;
  }
  note(change, rel);
  Entry& entry = files_[rel];
  entry.size = static_cast<std::uintmax_t>(st.st_size);
  entry.mtime_ns = mtime;
  entry.inode = st.st_ino;
  entry.sha256 = std::move(digest);
  entry.racy = now_ns() - mtime < racy_window_ns;
}

bool SourceTree::walk(const fs::path& dir, Scan how, Change& change, std::set<std::string>& seen) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return false;
  for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      spdlog::warn("source tree: cannot walk {}: {}", dir.string(), ec.message());
      return false;
    }
    const fs::path& path = it->path();
    std::string name = path.filename().string();
    std::error_code sec;
    if (it->is_symlink(sec) && it->is_directory(sec)) continue;  // never follow directory links (loops)
    if (it->is_directory(sec)) {
      if (is_ignored_dir(name) || is_under_any(path, ignored_paths_)) it.disable_recursion_pending();
      continue;
    }
    if (is_ignored_file(name) || !it->is_regular_file(sec)) continue;
    update_file(path, how, change, &seen);
  }
  return true;
}

void SourceTree::remove_under(const std::string& rel, Change& change, const std::set<std::string>* keep) {
  auto begin = rel.empty() ? files_.begin() : files_.lower_bound(rel);
  for (auto it = begin; it != files_.end();) {
    const std::string& key = it->first;
    bool under = rel.empty() || key == rel || (key.size() > rel.size() && key.compare(0, rel.size(), rel) == 0 && key[rel.size()] == '/');
    if (!under) {
      // Keys under rel sort between "rel" and "rel0" ('/' + 1); stop once past that range.
      if (key.compare(0, rel.size(), rel) != 0 || (key.size() > rel.size() && key[rel.size()] > '/')) break;
      ++it;
      continue;
    }
    if (keep && keep->count(key)) {
      ++it;
      continue;
    }
    note(change, key);
    it = files_.erase(it);
  }
}

SourceTree::Delta SourceTree::rescan() {
  Change change;
  std::set<std::string> seen;
  if (single_file_) {
    update_file(root_, Scan::trust_stat, change, &seen);
    return finish(change);
  }
  if (walk(root_, Scan::trust_stat, change, seen)) remove_under("", change, &seen);
  return finish(change);
}

SourceTree::Delta SourceTree::refresh(const std::vector<fs::path>& paths) {
  Change change;
  std::set<fs::path> unique;
  for (const auto& p : paths) unique.insert(normalize(p));
  for (const auto& abs : unique) {
    if (!tracked_candidate(abs)) continue;
    std::error_code ec;
    auto status = fs::status(abs, ec);
    std::string rel = relpath(abs);
    if (!single_file_ && fs::is_directory(status)) {
      if (abs != root_ && is_ignored_dir(abs.filename().string())) continue;
      std::set<std::string> seen;
      if (walk(abs, Scan::trust_stat, change, seen)) remove_under(rel, change, &seen);
    } else if (fs::is_regular_file(status)) {
      if (!single_file_ && is_ignored_file(abs.filename().string())) continue;
      update_file(abs, Scan::always_hash, change, nullptr);
    } else {
      remove_under(rel, change, nullptr);
    }
  }
  return finish(change);
}

std::string SourceTree::combined_hash() const {
  util::Sha256 h;
  for (const auto& [rel, entry] : files_) {
    h.update(rel);
    h.update(std::string_view("\0", 1));
    h.update(entry.sha256);
    h.update("\n");
  }
  return h.hex_digest();
}

std::size_t SourceTree::file_count() const { return files_.size(); }

nlohmann::json SourceTree::to_json() const {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [rel, e] : files_)
    files[rel] = {{"size", e.size}, {"mtime_ns", e.mtime_ns}, {"inode", e.inode}, {"sha256", e.sha256}, {"racy", e.racy}};
  return {{"format", 1},           {"root", root_.string()},         {"single_file", single_file_},
          {"combined_hash", combined_hash()}, {"files", std::move(files)}};
}

SourceTree SourceTree::from_json(fs::path root, const nlohmann::json& snapshot, std::vector<fs::path> ignored_paths) {
  SourceTree tree(std::move(root), std::move(ignored_paths));
  if (!snapshot.is_object() || snapshot.value("format", 0) != 1 || !snapshot.contains("files") || !snapshot["files"].is_object())
    throw std::invalid_argument("source snapshot: expected an object with format 1 and a \"files\" object");
  // A root that vanished while the daemon was down keeps the kind it had.
  if (auto kind = snapshot.find("single_file"); kind != snapshot.end() && kind->is_boolean()) tree.single_file_ = kind->get<bool>();
  for (const auto& [rel, value] : snapshot["files"].items()) {
    try {
      Entry e;
      e.size = value.at("size").get<std::uintmax_t>();
      e.mtime_ns = value.at("mtime_ns").get<std::int64_t>();
      e.inode = value.at("inode").get<std::uint64_t>();
      e.sha256 = value.at("sha256").get<std::string>();
      e.racy = value.value("racy", true);
      tree.files_[rel] = std::move(e);
    } catch (const nlohmann::json::exception& ex) {
      throw std::invalid_argument("source snapshot: bad entry for \"" + rel + "\": " + ex.what());
    }
  }
  return tree;
}
}  // namespace prestage::watch
