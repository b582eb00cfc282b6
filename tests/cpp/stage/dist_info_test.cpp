#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "stage/dist_info.hpp"
#include "stage/generation_store.hpp"
#include "temp_dir.hpp"
#include "util/fs.hpp"

namespace fs = std::filesystem;
using namespace prestage::stage;
using prestage::test::TempDir;
using prestage::test::write_text;
using prestage::util::read_file;

namespace {
Distribution sample() {
  Distribution d;
  d.name = "My.Pkg__Name";
  d.version = "1.2.0";
  d.summary = "A sample\nsummary";
  d.requires_python = ">=3.9";
  d.requires_dist = {"numpy>=1.20", "pytest; extra == \"test\""};
  d.provides_extra = {"test"};
  d.entry_points["console_scripts"] = {{"my-cli", "my_pkg.cli:main"}, {"other", "my_pkg:run"}};
  d.entry_points["my_pkg.plugins"] = {{"a", "my_pkg.a"}};
  d.source_root = "/home/u/my proj";
  return d;
}
}  // namespace

TEST_CASE("distribution names: PEP 503 for lookups, underscores and the version for the dir name") {
  CHECK(normalize_distribution_name("My.Pkg__Name") == "my-pkg-name");
  CHECK(normalize_distribution_name("a-_.b") == "a-b");
  CHECK(dist_info_dir_name(sample()) == "my_pkg_name-1.2.0.dist-info");
  Distribution local = sample();
  local.version = "1.0+local-1";
  CHECK(dist_info_dir_name(local) == "my_pkg_name-1.0+local_1.dist-info");
  Distribution bad = sample();
  bad.version = "";
  CHECK_THROWS_WITH(dist_info_dir_name(bad), Catch::Contains("has no version"));
  bad.version = "1/2";
  CHECK_THROWS_WITH(dist_info_dir_name(bad), Catch::Contains("not a PEP 440 version"));
  bad = sample();
  bad.name = "a b";
  CHECK_THROWS_WITH(dist_info_dir_name(bad), Catch::Contains("not a valid project name"));
}

TEST_CASE("METADATA is core metadata 2.1 with one header per value") {
  std::string text = metadata_text(sample());
  CHECK(text.rfind("Metadata-Version: 2.1\nName: My.Pkg__Name\nVersion: 1.2.0\n", 0) == 0);
  CHECK(text.find("Summary: A sample summary\n") != std::string::npos);  // a header stays on one line
  CHECK(text.find("Requires-Python: >=3.9\n") != std::string::npos);
  CHECK(text.find("Requires-Dist: numpy>=1.20\nRequires-Dist: pytest; extra == \"test\"\n") != std::string::npos);
  CHECK(text.find("Provides-Extra: test\n") != std::string::npos);
  CHECK(text.find("Author:") == std::string::npos);  // empty fields are left out
  Distribution with_body = sample();
  with_body.description = "# Title\n\nText";
  with_body.description_content_type = "text/markdown";
  std::string body = metadata_text(with_body);
  CHECK(body.find("Description-Content-Type: text/markdown\n\n# Title\n\nText\n") != std::string::npos);
}

TEST_CASE("entry_points.txt lists each group with its entries in order; none gives no file") {
  CHECK(entry_points_text(sample()) ==
        "[console_scripts]\nmy-cli = my_pkg.cli:main\nother = my_pkg:run\n\n[my_pkg.plugins]\na = my_pkg.a\n");
  Distribution none = sample();
  none.entry_points.clear();
  CHECK(entry_points_text(none).empty());
  auto files = dist_info_files(none);
  REQUIRE(files.size() == 3);
  CHECK(files[0].first == "my_pkg_name-1.2.0.dist-info/METADATA");
  CHECK(files[1] == std::pair<std::string, std::string>{"my_pkg_name-1.2.0.dist-info/INSTALLER", "prestage\n"});
  CHECK(files[2].first == "my_pkg_name-1.2.0.dist-info/direct_url.json");
}

TEST_CASE("direct_url.json is PEP 610's editable dir_info with a percent-encoded file URL") {
  CHECK(direct_url_json("/home/u/my proj") == "{\"dir_info\":{\"editable\":true},\"url\":\"file:///home/u/my%20proj\"}\n");
  CHECK(file_url("/a/b-c_d.e~f/%") == "file:///a/b-c_d.e~f/%25");
}

TEST_CASE("RECORD rows are path,sha256=<urlsafe b64 without padding>,size and RECORD's own row has no hash") {
  CHECK(urlsafe_b64_of_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ==
        "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  CHECK(urlsafe_b64_of_hex("61") == "YQ");
  CHECK(urlsafe_b64_of_hex("6162") == "YWI");
  std::string record = record_text({{"pkg/__init__.py", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0},
                                    {"odd,name.py", "61", 1}},
                                   "p-1.dist-info");
  CHECK(record ==
        "pkg/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
        "\"odd,name.py\",sha256=YQ,1\n"
        "p-1.dist-info/RECORD,,\n");
}

TEST_CASE("publish writes the dist-info at the generation root; the content hash covers it") {
  TempDir src{"dist-src"};
  TempDir state{"dist-state"};
  write_text(src / "pkg/__init__.py", "X = 1\n");
  PackageLayout layout;
  layout.trees = {{src / "pkg", "pkg"}};
  layout.distribution = sample();
  GenerationStore store(state.path());
  Manifest draft;
  draft.project_id = "p";
  draft.python_key = "py311";
  auto first = store.publish(layout, draft);
  REQUIRE(first);
  CHECK(first->dist_info == "my_pkg_name-1.2.0.dist-info");
  CHECK(first->distribution == "My.Pkg__Name");
  fs::path gen = store.generation_dir("py311", first->generation);
  CHECK(read_file(gen / first->dist_info / "METADATA") == metadata_text(sample()));
  CHECK(read_file(gen / first->dist_info / "entry_points.txt") == entry_points_text(sample()));
  std::string record = read_file(gen / first->dist_info / "RECORD");
  CHECK(record.find("pkg/__init__.py,sha256=") != std::string::npos);
  CHECK(record.find("my_pkg_name-1.2.0.dist-info/METADATA,sha256=") != std::string::npos);
  CHECK(record.find(",6\n") != std::string::npos);  // "X = 1\n" is 6 bytes
  const std::string own_row = "\nmy_pkg_name-1.2.0.dist-info/RECORD,,\n";  // last, without a hash
  REQUIRE(record.size() >= own_row.size());
  CHECK(record.substr(record.size() - own_row.size()) == own_row);

  CHECK_FALSE(store.publish(layout, draft));  // same files, same metadata: nothing new
  layout.distribution->version = "1.3.0";
  auto second = store.publish(layout, draft);
  REQUIRE(second);
  CHECK(second->dist_info == "my_pkg_name-1.3.0.dist-info");
  CHECK(fs::is_regular_file(store.generation_dir("py311", second->generation) / "my_pkg_name-1.3.0.dist-info/METADATA"));
  CHECK_FALSE(fs::exists(store.generation_dir("py311", second->generation) / "my_pkg_name-1.2.0.dist-info"));
  // The manifest round-trips the dist-info, so a restarted daemon answers it too.
  GenerationStore reopened(state.path());
  CHECK(reopened.latest("py311")->dist_info == "my_pkg_name-1.3.0.dist-info");

  layout.distribution->version.clear();
  CHECK_THROWS_AS(store.publish(layout, draft), std::invalid_argument);
}
