#include "projects/change_page.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "util/thread_check.hpp"

namespace prestage::projects {
namespace {
constexpr char kMagic[8] = {'P', 'S', 'T', 'G', 'C', 'H', 'G', '1'};
constexpr std::size_t kDrains = 8, kGlobal = 16, kSlotCount = 24;
constexpr std::size_t kEpoch = 0, kFlags = 8, kIdLength = 9, kId = 16;
}  // namespace

std::unique_ptr<ChangePage> ChangePage::create(std::string& error) {
  int fd = ::memfd_create("prestage-change-page", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    error = std::string("memfd_create: ") + std::strerror(errno);
    return nullptr;
  }
  void* base = MAP_FAILED;
  if (::ftruncate(fd, kSize) == 0) base = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  // Readers map it too: its size can no longer change under them.
  if (base == MAP_FAILED || ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    error = std::string("change page: ") + std::strerror(errno);
    if (base != MAP_FAILED) ::munmap(base, kSize);
    ::close(fd);
    return nullptr;
  }
  // The mapping keeps the memfd alive; only its read-only twin is kept, to hand out.
  const std::string self_path = "/proc/self/fd/" + std::to_string(fd);
  int reader = ::open(self_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int reopen_errno = errno;
  ::close(fd);
  if (reader < 0) {
    error = std::string("change page: reopening it read-only: ") + std::strerror(reopen_errno);
    ::munmap(base, kSize);
    return nullptr;
  }
  std::unique_ptr<ChangePage> page(new ChangePage(reader, static_cast<unsigned char*>(base)));
  std::memcpy(page->base_, kMagic, sizeof kMagic);
  const std::uint32_t slots = kSlots;
  std::memcpy(page->base_ + kSlotCount, &slots, sizeof slots);
  return page;
}

ChangePage::~ChangePage() {
  ::munmap(base_, kSize);
  ::close(reader_fd_);
}

std::uint64_t& ChangePage::word(std::size_t offset) { return *reinterpret_cast<std::uint64_t*>(base_ + offset); }

void ChangePage::drain_begin() {
  util::assert_on_io("ChangePage::drain_begin");
  // A full barrier before the read() that empties the queue: a reader that then sees the queue
  // empty sees this odd count, or a later one.
  std::atomic_ref<std::uint64_t>(word(kDrains)).fetch_add(1, std::memory_order_seq_cst);
}

void ChangePage::drain_end() {
  util::assert_on_io("ChangePage::drain_end");
  std::atomic_ref<std::uint64_t>(word(kDrains)).fetch_add(1, std::memory_order_seq_cst);
}

void ChangePage::bump_global() {
  util::assert_on_io("ChangePage::bump_global");
  std::atomic_ref<std::uint64_t>(word(kGlobal)).fetch_add(1, std::memory_order_seq_cst);
}

ChangePage::Slot ChangePage::claim(const std::string& project_id) {
  util::assert_on_io("ChangePage::claim");
  if (project_id.empty() || project_id.size() > kMaxId) return {};
  for (std::size_t i = 0; i < kSlots; ++i) {
    if (used_[i]) continue;
    used_[i] = true;
    unsigned char* l = line(i);
    bump_slot(i, 0);  // a client that cached this line's last owner sees a new epoch first
    l[kIdLength] = 0;
    std::memcpy(l + kId, project_id.data(), project_id.size());
    std::atomic_ref<unsigned char>(l[kIdLength]).store(static_cast<unsigned char>(project_id.size()), std::memory_order_release);
    return Slot(this, i);
  }
  return {};
}

void ChangePage::bump_slot(std::size_t index, std::uint8_t flags) {
  unsigned char* l = line(index);
  std::atomic_ref<unsigned char>(l[kFlags]).store(flags, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(l + kEpoch)).fetch_add(1, std::memory_order_seq_cst);
}

ChangePage::Slot::Slot(Slot&& other) noexcept : page_(other.page_), index_(other.index_) { other.page_ = nullptr; }

ChangePage::Slot& ChangePage::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    page_ = other.page_;
    index_ = other.index_;
    other.page_ = nullptr;
  }
  return *this;
}

ChangePage::Slot::~Slot() { release(); }

void ChangePage::Slot::bump(bool inotify_sees_all) {
  if (!page_) return;
  util::assert_on_io("ChangePage::Slot::bump");
  page_->bump_slot(index_, inotify_sees_all ? 1 : 0);
}

void ChangePage::Slot::release() {
  if (!page_) return;
  util::assert_on_io("ChangePage::Slot::release");
  std::atomic_ref<unsigned char>(page_->line(index_)[kIdLength]).store(0, std::memory_order_release);
  page_->bump_slot(index_, 0);
  page_->used_[index_] = false;
  page_ = nullptr;
}
}  // namespace prestage::projects
