#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "rpc/error_codes.hpp"

namespace codes = prestage::rpc::codes;

TEST_CASE("the generated rpc/error_codes.hpp holds exactly the table of schemas/error-codes.json, in order") {
  std::ifstream in(PRESTAGE_ERROR_CODES_JSON);
  REQUIRE(in);
  const auto table = nlohmann::json::parse(in);
  REQUIRE(table.size() == codes::all.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    CHECK(table[i]["name"].get<std::string>() == codes::all[i].name);
    CHECK(table[i]["code"].get<int>() == codes::all[i].code);
  }
  CHECK(codes::build_failed == -32001);  // the constants are usable as compile-time ints
  static_assert(codes::parse_error == -32700);
}
