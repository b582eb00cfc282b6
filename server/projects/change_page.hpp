#pragma once
// The change page: shared memory (a memfd clients map read-only, handed out with the inotify fd)
// that lets a client tell "nothing changed since my last answer" without a round trip
// (docs/reloading.md "A reload that asks nothing"; layout in docs/protocol.md "Change page").
// Written on the io thread only (checked); readers never write.
//
// Layout, little-endian, 64-byte lines:
//   header   magic "PSTGCHG1" | drains u64 (odd while the daemon reads its inotify queue) |
//            global u64 (bumped when something every answer depends on changes) | slots u32
//   slot i   at 64 * (i + 1): epoch u64 (bumped on every change of the project, never reset) |
//            flags u8 (1: every change reaches the inotify queue) | id length u8 | id at +16 (≤ 48 bytes)
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace prestage::projects {

class ChangePage {
 public:
  static constexpr std::size_t kLine = 64;
  static constexpr std::size_t kSlots = 1023;
  static constexpr std::size_t kSize = kLine * (kSlots + 1);
  static constexpr std::size_t kMaxId = 48;

  // nullptr, with `error` set, when the kernel gives no memfd.
  static std::unique_ptr<ChangePage> create(std::string& error);
  ~ChangePage();
  ChangePage(const ChangePage&) = delete;
  ChangePage& operator=(const ChangePage&) = delete;

  // The fd to hand out: the same memfd opened read-only, so a client cannot map it writable.
  int reader_fd() const { return reader_fd_; }
  void drain_begin();  // the inotify queue is being read: events are on their way to the projects
  void drain_end();    // ... and every one of them has been delivered
  void bump_global();

  // One project's line, released (epoch bumped, id cleared) when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(ChangePage* page, std::size_t index) : page_(page), index_(index) {}
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();
    explicit operator bool() const { return page_ != nullptr; }
    // Something about the project changed; `inotify_sees_all` says whether a client may trust
    // an empty inotify queue for it.
    void bump(bool inotify_sees_all);
    std::size_t index() const { return index_; }

   private:
    void release();
    ChangePage* page_ = nullptr;
    std::size_t index_ = 0;
  };
  // An empty Slot when every line is taken or the id does not fit (those projects always ask).
  Slot claim(const std::string& project_id);

 private:
  ChangePage(int reader_fd, unsigned char* base) : reader_fd_(reader_fd), base_(base) {}
  std::uint64_t& word(std::size_t offset);
  unsigned char* line(std::size_t index) { return base_ + kLine * (index + 1); }
  void bump_slot(std::size_t index, std::uint8_t flags);

  int reader_fd_;
  unsigned char* base_;
  bool used_[kSlots] = {};
};
}  // namespace prestage::projects
