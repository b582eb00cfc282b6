// Progress parsing: ninja's status lines, the monotone rule, cargo's unit count. No tool runs.
#include <catch2/catch.hpp>
#include <fstream>

#include "builders/build_progress.hpp"
#include "temp_dir.hpp"

using namespace prestage::builders;

TEST_CASE("ninja status lines give their fraction, other lines none") {
  auto f = ninja_fraction("[12/40] Building CXX object CMakeFiles/_core.dir/src/core.cpp.o");
  REQUIRE(f);
  CHECK(f->done == 12);
  CHECK(f->total == 40);
  CHECK(ninja_fraction("[40/40] Linking CXX shared module _core.so"));
  CHECK_FALSE(ninja_fraction("[ 50%] Building CXX object x.o"));  // make's, not ninja's
  CHECK_FALSE(ninja_fraction("[41/40] odd"));
  CHECK_FALSE(ninja_fraction("[1/0] odd"));
  CHECK_FALSE(ninja_fraction("[a/4] odd"));
  CHECK_FALSE(ninja_fraction("-- Configuring done"));
  CHECK_FALSE(ninja_fraction("[1/2"));
}

TEST_CASE("a build's fractions stay monotone: one that goes back is dropped, its message kept") {
  MonotoneProgress m;
  CHECK(m.apply({"Configuring", {}, {}}).message == "Configuring");
  CHECK(m.apply({"[1/4] a", 1, 4}).has_fraction());
  auto back = m.apply({"[1/8] b", 1, 8});  // 1/8 < 1/4
  CHECK_FALSE(back.has_fraction());
  CHECK(back.message == "[1/8] b");
  CHECK(m.apply({"[3/6] c", 3, 6}).has_fraction());  // total shrank, fraction grew
  CHECK_FALSE(m.apply({"[2/3] d", 2, 3}).has_fraction());  // done went back
  CHECK(m.apply({"[6/6] e", 6, 6}).has_fraction());
}

TEST_CASE("cargo's unit count has a total only from a previous build in the same work dir") {
  prestage::test::TempDir dir("cargo-units");
  CargoUnitCount first(dir.path());
  CHECK_FALSE(first.total());
  for (int i = 0; i < 3; ++i) CHECK_FALSE(first.artifact());  // no total: no made-up fraction
  first.remember();

  CargoUnitCount second(dir.path());
  REQUIRE(second.total() == 3u);
  auto a = second.artifact();
  REQUIRE(a);
  CHECK(a->done == 1);
  CHECK(a->total == 3);
  second.artifact();
  CHECK(second.artifact()->done == 3);
  CHECK_FALSE(second.artifact());  // the graph grew past the old count: no fraction any more

  std::ofstream(dir.path() / "cargo-units") << "garbage\n";
  CHECK_FALSE(CargoUnitCount(dir.path()).total());
}
