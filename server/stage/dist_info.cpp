#include "stage/dist_info.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace prestage::stage {
namespace {
bool is_separator(char c) { return c == '-' || c == '_' || c == '.'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string collapse_runs(std::string_view name, char joiner) {
  std::string out;
  out.reserve(name.size());
  bool in_run = false;
  for (char c : name) {
    if (is_separator(c)) {
      if (!in_run) out.push_back(joiner);
      in_run = true;
    } else {
      out.push_back(lower(c));
      in_run = false;
    }
  }
  return out;
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// A header value on one line: newlines (never meaningful in these fields) become spaces.
std::string one_line(std::string_view value) {
  std::string out(value);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

// A header value that may span lines: continuation lines are indented (RFC 822 folding).
std::string folded(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\r') continue;
    out.push_back(c);
    if (c == '\n') out += "        ";
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out;
}

void header(std::string& out, std::string_view field, std::string_view value) {
  if (value.empty()) return;
  out.append(field).append(": ").append(value).append("\n");
}

// A CSV field as Python's csv module writes it (quoted when it holds ',', '"' or a line break).
std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}
}  // namespace

std::string normalize_distribution_name(std::string_view name) { return collapse_runs(name, '-'); }

std::string dist_info_dir_name(const Distribution& d) {
  if (d.name.empty()) throw std::invalid_argument("distribution has no name");
  for (char c : d.name)
    if (!is_alnum(c) && !is_separator(c))
      throw std::invalid_argument("distribution name \"" + d.name + "\" is not a valid project name (letters, digits, '-', '_', '.')");
  if (d.version.empty()) throw std::invalid_argument("distribution " + d.name + " has no version");
  std::string version;
  for (char c : d.version) {
    if (!is_alnum(c) && c != '.' && c != '!' && c != '+' && c != '_' && c != '-')
      throw std::invalid_argument("version \"" + d.version + "\" of " + d.name + " is not a PEP 440 version");
    version.push_back(c == '-' ? '_' : c);
  }
  return collapse_runs(d.name, '_') + "-" + version + ".dist-info";
}

std::string metadata_text(const Distribution& d) {
  std::string out;
  header(out, "Metadata-Version", "2.1");
  header(out, "Name", one_line(d.name));
  header(out, "Version", one_line(d.version));
  for (const auto& field : d.dynamic) header(out, "Dynamic", one_line(field));
  header(out, "Summary", one_line(d.summary));
  std::string keywords;
  for (const auto& k : d.keywords) keywords += (keywords.empty() ? "" : ",") + one_line(k);
  header(out, "Keywords", keywords);
  header(out, "Author", one_line(d.author));
  header(out, "Author-email", one_line(d.author_email));
  header(out, "Maintainer", one_line(d.maintainer));
  header(out, "Maintainer-email", one_line(d.maintainer_email));
  header(out, "License", folded(d.license));
  header(out, "License-Expression", one_line(d.license_expression));
  for (const auto& c : d.classifiers) header(out, "Classifier", one_line(c));
  for (const auto& [label, url] : d.project_urls) header(out, "Project-URL", one_line(label) + ", " + one_line(url));
  header(out, "Requires-Python", one_line(d.requires_python));
  for (const auto& r : d.requires_dist) header(out, "Requires-Dist", one_line(r));
  for (const auto& e : d.provides_extra) header(out, "Provides-Extra", one_line(e));
  header(out, "Description-Content-Type", one_line(d.description_content_type));
  if (!d.description.empty()) {
    out += "\n";
    out += d.description;
    if (out.back() != '\n') out += "\n";
  }
  return out;
}

std::string entry_points_text(const Distribution& d) {
  std::string out;
  for (const auto& [group, entries] : d.entry_points) {
    if (entries.empty()) continue;
    if (!out.empty()) out += "\n";
    out += "[" + group + "]\n";
    for (const auto& [name, value] : entries) out += name + " = " + value + "\n";
  }
  return out;
}

std::string installer_text() { return "prestage\n"; }

std::string file_url(const std::filesystem::path& absolute) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : absolute.generic_string()) {
    if (is_alnum(static_cast<char>(c)) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string direct_url_json(const std::filesystem::path& root) {
  return nlohmann::json{{"url", file_url(root)}, {"dir_info", {{"editable", true}}}}.dump() + "\n";
}

std::vector<std::pair<std::string, std::string>> dist_info_files(const Distribution& d) {
  const std::string dir = dist_info_dir_name(d);
  std::vector<std::pair<std::string, std::string>> files;
  files.emplace_back(dir + "/METADATA", metadata_text(d));
  files.emplace_back(dir + "/INSTALLER", installer_text());
  if (std::string eps = entry_points_text(d); !eps.empty()) files.emplace_back(dir + "/entry_points.txt", std::move(eps));
  if (!d.source_root.empty()) files.emplace_back(dir + "/direct_url.json", direct_url_json(d.source_root));
  return files;
}

std::string urlsafe_b64_of_hex(std::string_view hex) {
  auto nibble = [&](char c) -> unsigned {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
    throw std::invalid_argument("not a hex digest: " + std::string(hex));
  };
  if (hex.size() % 2) throw std::invalid_argument("not a hex digest: " + std::string(hex));
  std::string bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2) bytes.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 | static_cast<unsigned char>(bytes[i + 2]);
    out += {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], alphabet[v >> 6 & 63], alphabet[v & 63]};
  }
  if (bytes.size() - i == 1) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63]};
  } else if (bytes.size() - i == 2) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63], alphabet[v >> 6 & 63]};
  }
  return out;  // no '=' padding, as wheels write it
}

std::string record_text(const std::vector<RecordEntry>& files, const std::string& dist_info_dir) {
  const std::string own = dist_info_dir + "/RECORD";
  std::string out;
  for (const auto& f : files) {
    if (f.path == own) continue;
    out += csv_field(f.path) + ",sha256=" + urlsafe_b64_of_hex(f.sha256_hex) + "," + std::to_string(f.size) + "\n";
  }
  return out + csv_field(own) + ",,\n";
}
}  // namespace prestage::stage
