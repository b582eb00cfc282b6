// ChangePage: what a client mapping the memfd read-only sees, read through a second mapping of
// the same fd (as the handoff hands it out), at the offsets docs/protocol.md gives.
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "projects/change_page.hpp"

using prestage::projects::ChangePage;

namespace {
// A reader's view: its own read-only mapping of the page's fd.
struct Reader {
  explicit Reader(int fd) : base(static_cast<const unsigned char*>(::mmap(nullptr, ChangePage::kSize, PROT_READ, MAP_SHARED, fd, 0))) {
    REQUIRE(base != MAP_FAILED);
  }
  ~Reader() { ::munmap(const_cast<unsigned char*>(base), ChangePage::kSize); }
  std::uint64_t quad(std::size_t offset) const {
    std::uint64_t v;
    std::memcpy(&v, base + offset, sizeof v);
    return v;
  }
  std::uint64_t drains() const { return quad(8); }
  std::uint64_t global() const { return quad(16); }
  std::uint64_t epoch(std::size_t slot) const { return quad(64 * (slot + 1)); }
  unsigned flags(std::size_t slot) const { return base[64 * (slot + 1) + 8]; }
  std::string id(std::size_t slot) const {
    const unsigned char* line = base + 64 * (slot + 1);
    return std::string(reinterpret_cast<const char*>(line + 16), line[9]);
  }
  const unsigned char* base;
};
}  // namespace

TEST_CASE("change page: header, a claimed line, bumps and release as a reader sees them") {
  std::string error;
  auto page = ChangePage::create(error);
  REQUIRE(page);
  INFO(error);
  Reader reader(page->reader_fd());
  CHECK(std::string(reinterpret_cast<const char*>(reader.base), 8) == "PSTGCHG1");
  std::uint32_t slots;
  std::memcpy(&slots, reader.base + 24, sizeof slots);
  CHECK(slots == ChangePage::kSlots);

  auto slot = page->claim("cmake_pkg-0123456789ab");
  REQUIRE(slot);
  const std::size_t i = slot.index();
  CHECK(reader.id(i) == "cmake_pkg-0123456789ab");
  CHECK(reader.flags(i) == 0);  // nothing says inotify sees it all until the pipeline does
  const auto claimed = reader.epoch(i);

  slot.bump(true);
  CHECK(reader.epoch(i) == claimed + 1);
  CHECK(reader.flags(i) == 1);
  slot.bump(false);
  CHECK(reader.epoch(i) == claimed + 2);
  CHECK(reader.flags(i) == 0);

  SECTION("a released line keeps counting, so an answer kept for its last owner never matches again") {
    slot = {};
    CHECK(reader.id(i).empty());
    CHECK(reader.epoch(i) == claimed + 3);
    auto again = page->claim("other-0123456789ab");
    REQUIRE(again);
    CHECK(again.index() == i);
    CHECK(reader.epoch(i) > claimed + 3);
    CHECK(reader.id(i) == "other-0123456789ab");
  }
  SECTION("drains are odd while the queue is being read, even once delivered") {
    const auto before = reader.drains();
    CHECK(before % 2 == 0);
    page->drain_begin();
    CHECK(reader.drains() == before + 1);
    page->drain_end();
    CHECK(reader.drains() == before + 2);
  }
  SECTION("the global epoch moves on its own") {
    const auto before = reader.global();
    page->bump_global();
    CHECK(reader.global() == before + 1);
    CHECK(reader.epoch(i) == claimed + 2);
  }
}

TEST_CASE("change page: ids that do not fit and a full page give no line") {
  std::string error;
  auto page = ChangePage::create(error);
  REQUIRE(page);
  CHECK_FALSE(page->claim(std::string(ChangePage::kMaxId + 1, 'x')));
  CHECK_FALSE(page->claim(""));
  std::vector<ChangePage::Slot> held;
  for (std::size_t n = 0; n < ChangePage::kSlots; ++n) held.push_back(page->claim("p-" + std::to_string(n)));
  CHECK(held.back());
  CHECK_FALSE(page->claim("one-too-many"));
  held.pop_back();
  CHECK(page->claim("fits-again"));
}

TEST_CASE("change page: the fd handed out maps read-only and the memfd cannot be resized") {
  std::string error;
  auto page = ChangePage::create(error);
  REQUIRE(page);
  const int fd = page->reader_fd();
  CHECK(::mmap(nullptr, ChangePage::kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
  CHECK(::ftruncate(fd, 0) != 0);
  CHECK((::fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK) != 0);
}
