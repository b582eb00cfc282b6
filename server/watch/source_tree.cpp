#include "watch/source_tree.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <iterator>
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

// One operation (rescan/refresh): the digests touched entries had before it, and the entries it added
// (kept apart and merged in once, so that adding many files is not quadratic).
struct SourceTree::Change {
  std::vector<std::pair<std::string, Digest>> before;
  std::vector<Entry> staged;
  std::size_t hashed = 0;
};

namespace {

std::string to_hex(const std::array<std::uint8_t, 32>& digest) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = digits[digest[i] >> 4];
    out[2 * i + 1] = digits[digest[i] & 0xf];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(std::string_view hex, std::array<std::uint8_t, 32>& digest) {
  if (hex.size() != 64) return false;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    digest[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool is_under_rel(std::string_view key, std::string_view rel) {
  return rel.empty() || (key.substr(0, rel.size()) == rel && (key.size() == rel.size() || key[rel.size()] == '/'));
}
}  // namespace

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
    if (!is_python_source(p) || p.filename() == "setup.py") return false;  // setup.py is the build script
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

fs::path SourceTree::absolute_of(std::string_view rel) const {
  if (single_file_) return root_;
  fs::path abs = root_ / rel;
  return rel.substr(0, 2) == ".." ? abs.lexically_normal() : abs;  // under an extra root
}

void SourceTree::add_extra_root(const fs::path& dir) {
  fs::path d = normalize(dir);
  if (single_file_ || d == root_ || std::find(extra_roots_.begin(), extra_roots_.end(), d) != extra_roots_.end()) return;
  extra_roots_.push_back(d);
}

bool SourceTree::tracked_candidate(const fs::path& abs) const {
  if (single_file_) return abs == root_;
  auto rel = abs.lexically_relative(root_);
  if (!rel.empty() && *rel.begin() == "..") {
    for (const auto& extra : extra_roots_) {
      auto inside = abs.lexically_relative(extra);
      if (inside.empty() || *inside.begin() == "..") continue;
      if (is_under_any(abs, ignored_paths_)) return false;
      if (inside == ".") return true;
      auto last = std::prev(inside.end());
      for (auto it = inside.begin(); it != last; ++it)
        if (is_ignored_dir(it->string())) return false;
      return true;
    }
    return false;
  }
  if (rel.empty() || *rel.begin() == "..") return false;
  if (is_under_any(abs, ignored_paths_)) return false;
  if (rel == ".") return true;
  auto last = std::prev(rel.end());
  for (auto it = rel.begin(); it != last; ++it)
    if (is_ignored_dir(it->string())) return false;
  return true;
}

std::size_t SourceTree::lower_bound(std::string_view rel) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), rel, [this](const Entry& e, std::string_view key) { return name_of(e) < key; });
  return static_cast<std::size_t>(it - entries_.begin());
}

std::size_t SourceTree::find(std::string_view rel) const {
  std::size_t i = lower_bound(rel);
  return i < entries_.size() && name_of(entries_[i]) == rel ? i : npos;
}

void SourceTree::note(Change& change, Entry& entry) const {
  if (entry.fresh || entry.noted) return;  // added by this operation, or already remembered
  entry.noted = 1;
  change.before.emplace_back(std::string(name_of(entry)), entry.sha256);
}

void SourceTree::merge_staged(Change& change) {
  auto& staged = change.staged;
  if (staged.empty()) return;
  auto by_name = [this](const Entry& a, const Entry& b) { return name_of(a) < name_of(b); };
  std::stable_sort(staged.begin(), staged.end(), by_name);
  // The same new file staged twice in one operation: keep the newest.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < staged.size(); ++i) {
    if (i + 1 < staged.size() && name_of(staged[i]) == name_of(staged[i + 1])) {
      dead_name_bytes_ += staged[i].name_size;
      --live_;
      continue;
    }
    staged[kept++] = staged[i];
  }
  staged.resize(kept);
  std::vector<Entry> merged;
  merged.reserve(entries_.size() + staged.size());
  std::merge(entries_.begin(), entries_.end(), staged.begin(), staged.end(), std::back_inserter(merged), by_name);
  entries_.swap(merged);
  staged.clear();
  staged.shrink_to_fit();
}

SourceTree::Delta SourceTree::finish(Change& change) {
  merge_staged(change);
  std::vector<std::uint32_t> removed, changed;  // indices into change.before
  for (std::uint32_t b = 0; b < change.before.size(); ++b) {
    std::size_t i = find(change.before[b].first);
    if (i == npos || entries_[i].dead) removed.push_back(b);
    else if (entries_[i].sha256 != change.before[b].second) changed.push_back(b);
  }
  std::vector<std::uint32_t> added;  // indices into entries_ once compacted
  std::size_t kept = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry e = entries_[i];
    if (e.dead) continue;
    if (e.fresh) added.push_back(static_cast<std::uint32_t>(kept));
    e.fresh = e.noted = 0;
    entries_[kept++] = e;
  }
  entries_.resize(kept);
  if (dead_name_bytes_ > 4096 && dead_name_bytes_ > names_.size() / 2) compact_names();
  // A big scan grows the containers by doubling: give the slack back.
  if (entries_.capacity() > entries_.size() + entries_.size() / 4 + 64) entries_.shrink_to_fit();
  if (names_.capacity() > names_.size() + names_.size() / 4 + 4096) names_.shrink_to_fit();
  if (change.hashed >= kTrimAfterFiles) ::malloc_trim(0);  // what the walk and hashing freed on this worker's arena
  // The delta's paths come last: allocated above everything that stays, they go back to the system when freed.
  Delta delta;
  delta.removed.reserve(removed.size());
  for (auto b : removed) delta.removed.push_back(absolute_of(change.before[b].first));
  delta.changed.reserve(changed.size());
  for (auto b : changed) delta.changed.push_back(absolute_of(change.before[b].first));
  delta.added.reserve(added.size());
  for (auto i : added) delta.added.push_back(absolute_of(name_of(entries_[i])));
  for (auto* v : {&delta.changed, &delta.added, &delta.removed}) std::sort(v->begin(), v->end());
  return delta;
}

void SourceTree::compact_names() {
  std::string names;
  names.reserve(names_.size() - dead_name_bytes_);
  for (auto& e : entries_) {
    std::uint32_t offset = static_cast<std::uint32_t>(names.size());
    names.append(name_of(e));
    e.name_offset = offset;
  }
  names_.swap(names);
  dead_name_bytes_ = 0;
}

void SourceTree::update_file(const fs::path& abs, Scan how, Change& change) {
  std::string rel = relpath(abs);
  struct stat st {};
  if (::stat(abs.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    remove_under(rel, change, false);
    return;
  }
  std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::size_t i = find(rel);
  if (i != npos && !entries_[i].dead) {
    Entry& e = entries_[i];
    e.seen = 1;
    if (how == Scan::trust_stat && !e.racy && e.size == static_cast<std::uint64_t>(st.st_size) && e.mtime_ns == mtime &&
        e.inode == st.st_ino)
      return;
  }
  Digest digest{};
  try {
    from_hex(util::sha256_file(abs), digest);
  } catch (const std::system_error& e) {
    std::error_code ec;
    if (!fs::exists(abs, ec)) remove_under(rel, change, false);
    else spdlog::warn("source tree: {}", e.what());
    return;
  }
  ++change.hashed;
  Entry fresh_entry;
  Entry* e = nullptr;
  i = find(rel);  // remove_under may have merged staged entries meanwhile
  if (i != npos) {
    e = &entries_[i];
    if (e->dead) {  // removed earlier in this operation, back now
      e->dead = 0;
      dead_name_bytes_ -= e->name_size;
      ++live_;
    } else if (e->sha256 != digest) {
      note(change, *e);
    }
  } else {
    e = &fresh_entry;
    e->name_offset = static_cast<std::uint32_t>(names_.size());
    e->name_size = static_cast<std::uint32_t>(rel.size());
    e->fresh = 1;
    names_ += rel;
    ++live_;
  }
  e->seen = 1;
  e->size = static_cast<std::uint64_t>(st.st_size);
  e->mtime_ns = mtime;
  e->inode = st.st_ino;
  e->sha256 = digest;
  e->racy = now_ns() - mtime < racy_window_ns;
  if (e == &fresh_entry) change.staged.push_back(fresh_entry);
}

bool SourceTree::walk(const fs::path& dir, Scan how, Change& change) {
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
    update_file(path, how, change);
  }
  return true;
}

void SourceTree::mark_unseen_under(std::string_view rel) {
  for (std::size_t i = rel.empty() ? 0 : lower_bound(rel); i < entries_.size(); ++i) {
    auto key = name_of(entries_[i]);
    if (key.substr(0, rel.size()) != rel) break;  // keys under rel are contiguous among those starting with it
    if (is_under_rel(key, rel)) entries_[i].seen = 0;
  }
}

void SourceTree::remove_under(const std::string& rel, Change& change, bool only_unseen) {
  merge_staged(change);
  for (std::size_t i = rel.empty() ? 0 : lower_bound(rel); i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    auto key = name_of(e);
    if (key.substr(0, rel.size()) != rel) break;
    if (!is_under_rel(key, rel) || e.dead || (only_unseen && e.seen)) continue;
    note(change, e);
    e.dead = 1;
    dead_name_bytes_ += e.name_size;
    --live_;
  }
}

SourceTree::Delta SourceTree::rescan() {
  Change change;
  if (single_file_) {
    update_file(root_, Scan::trust_stat, change);
    return finish(change);
  }
  mark_unseen_under("");
  bool complete = walk(root_, Scan::trust_stat, change);
  for (const auto& extra : extra_roots_) complete = walk(extra, Scan::trust_stat, change) && complete;
  if (complete) remove_under("", change, true);
  return finish(change);
}

SourceTree::Delta SourceTree::refresh(const std::vector<fs::path>& paths) {
  Change change;
  std::vector<fs::path> unique;
  unique.reserve(paths.size());
  for (const auto& p : paths) unique.push_back(normalize(p));
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  for (const auto& abs : unique) {
    if (!tracked_candidate(abs)) continue;
    std::error_code ec;
    auto status = fs::status(abs, ec);
    std::string rel = relpath(abs);
    if (!single_file_ && fs::is_directory(status)) {
      bool a_root = abs == root_ || std::find(extra_roots_.begin(), extra_roots_.end(), abs) != extra_roots_.end();
      if (!a_root && is_ignored_dir(abs.filename().string())) continue;
      merge_staged(change);
      mark_unseen_under(rel);
      if (walk(abs, Scan::trust_stat, change)) remove_under(rel, change, true);
    } else if (fs::is_regular_file(status)) {
      if (!single_file_ && is_ignored_file(abs.filename().string())) continue;
      update_file(abs, Scan::always_hash, change);
    } else {
      remove_under(rel, change, false);
    }
  }
  return finish(change);
}

std::string SourceTree::combined_hash() const {
  util::Sha256 h;
  for (const auto& e : entries_) {
    h.update(name_of(e));
    h.update(std::string_view("\0", 1));
    h.update(to_hex(e.sha256));
    h.update("\n");
  }
  return h.hex_digest();
}

std::size_t SourceTree::file_count() const { return live_; }

// Format 2 is columnar, a few long strings rather than one JSON node per field per file, so that
// building, dumping and parsing it for 100k files stays a few MB:
//   "paths":  relpaths joined by NUL (which no file name contains)
//   "stats":  "size,mtime_ns,inode,racy;" per file, in decimal
//   "sha256": the hex digests back to back
nlohmann::json SourceTree::to_json() const {
  std::string paths, stats, digests;
  paths.reserve(names_.size() + entries_.size());
  stats.reserve(entries_.size() * 40);
  digests.reserve(entries_.size() * 64);
  for (const auto& e : entries_) {
    if (&e != &entries_.front()) paths.push_back('\0');
    paths.append(name_of(e));
    stats += std::to_string(e.size);
    stats += ',';
    stats += std::to_string(e.mtime_ns);
    stats += ',';
    stats += std::to_string(e.inode);
    stats += e.racy ? ",1;" : ",0;";
    digests += to_hex(e.sha256);
  }
  return {{"format", 2},
          {"root", root_.string()},
          {"single_file", single_file_},
          {"combined_hash", combined_hash()},
          {"count", entries_.size()},
          {"paths", std::move(paths)},
          {"stats", std::move(stats)},
          {"sha256", std::move(digests)}};
}

namespace {
template <class T>
bool parse_number(std::string_view& text, char end, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr == text.data() + text.size() || *ptr != end) return false;
  text.remove_prefix(static_cast<std::size_t>(ptr - text.data()) + 1);
  return true;
}
}  // namespace

SourceTree SourceTree::from_json(fs::path root, const nlohmann::json& snapshot, std::vector<fs::path> ignored_paths) {
  SourceTree tree(std::move(root), std::move(ignored_paths));
  int format = snapshot.is_object() ? snapshot.value("format", 0) : 0;
  bool valid = snapshot.is_object() &&
               ((format == 1 && snapshot.contains("files") && snapshot["files"].is_object()) ||
                (format == 2 && snapshot.contains("count") && snapshot["count"].is_number_integer() && snapshot["count"].get<std::int64_t>() >= 0 && snapshot.contains("paths") &&
                 snapshot["paths"].is_string() && snapshot.contains("stats") && snapshot["stats"].is_string() && snapshot.contains("sha256") &&
                 snapshot["sha256"].is_string()));
  if (!valid)
    throw std::invalid_argument(
        "source snapshot: expected an object with format 1 (a \"files\" object) or 2 (\"count\", \"paths\", \"stats\", \"sha256\")");
  // A root that vanished while the daemon was down keeps the kind it had.
  if (auto kind = snapshot.find("single_file"); kind != snapshot.end() && kind->is_boolean()) tree.single_file_ = kind->get<bool>();
  auto add = [&tree](std::string_view rel, std::uint64_t size, std::int64_t mtime, std::uint64_t inode, std::string_view hex, bool racy) {
    Entry e;
    if (!from_hex(hex, e.sha256)) throw std::invalid_argument("source snapshot: bad sha256 for \"" + std::string(rel) + "\"");
    e.name_offset = static_cast<std::uint32_t>(tree.names_.size());
    e.name_size = static_cast<std::uint32_t>(rel.size());
    e.size = size;
    e.mtime_ns = mtime;
    e.inode = inode;
    e.racy = racy;
    tree.names_ += rel;
    tree.entries_.push_back(e);
  };
  if (format == 1) {
    for (const auto& [rel, value] : snapshot["files"].items()) {
      try {
        add(rel, value.at("size").get<std::uint64_t>(), value.at("mtime_ns").get<std::int64_t>(), value.at("inode").get<std::uint64_t>(),
            value.at("sha256").get<std::string>(), value.value("racy", true));
      } catch (const nlohmann::json::exception& ex) {
        throw std::invalid_argument("source snapshot: bad entry for \"" + rel + "\": " + ex.what());
      }
    }
  } else {
    auto count = snapshot["count"].get<std::size_t>();
    std::string_view paths = snapshot["paths"].get_ref<const std::string&>();
    std::string_view stats = snapshot["stats"].get_ref<const std::string&>();
    std::string_view digests = snapshot["sha256"].get_ref<const std::string&>();
    if (digests.size() != count * 64) throw std::invalid_argument("source snapshot: \"sha256\" does not hold " + std::to_string(count) + " digests");
    tree.entries_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      auto cut = paths.find('\0');
      if ((cut == std::string_view::npos) != (i + 1 == count))
        throw std::invalid_argument("source snapshot: \"paths\" does not hold " + std::to_string(count) + " paths");
      std::string_view rel = paths.substr(0, cut);
      paths.remove_prefix(cut == std::string_view::npos ? paths.size() : cut + 1);
      std::uint64_t size = 0, inode = 0;
      std::int64_t mtime = 0;
      int racy = 0;
      if (!parse_number(stats, ',', size) || !parse_number(stats, ',', mtime) || !parse_number(stats, ',', inode) ||
          !parse_number(stats, ';', racy))
        throw std::invalid_argument("source snapshot: bad stats for \"" + std::string(rel) + "\"");
      add(rel, size, mtime, inode, digests.substr(i * 64, 64), racy != 0);
    }
  }
  std::sort(tree.entries_.begin(), tree.entries_.end(), [&tree](const Entry& a, const Entry& b) { return tree.name_of(a) < tree.name_of(b); });
  auto same = [&tree](const Entry& a, const Entry& b) { return tree.name_of(a) == tree.name_of(b); };
  tree.entries_.erase(std::unique(tree.entries_.begin(), tree.entries_.end(), same), tree.entries_.end());
  tree.live_ = tree.entries_.size();
  tree.compact_names();
  tree.names_.shrink_to_fit();
  return tree;
}
}  // namespace prestage::watch
