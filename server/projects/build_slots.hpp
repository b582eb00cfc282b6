#pragma once
// At most `jobs` builds at once, handed out first-come first-served across projects.
// Runs on the daemon's io thread; takes no locks.
#include <cstddef>
#include <deque>
#include <functional>
#include <string>

namespace prestage::projects {

class BuildSlots {
 public:
  explicit BuildSlots(std::size_t jobs) : jobs_(jobs == 0 ? 1 : jobs) {}

  // Runs `start` now if a slot is free, else when one frees up. A project waits in the queue at
  // most once: queueing it again replaces its callback but keeps its place (fair under save storms).
  void acquire(const std::string& project_id, std::function<void()> start);
  // Drops a project's queued request (it is closing). No effect when it holds a slot.
  void forget(const std::string& project_id);
  // A started build is over; the slot goes to the next waiting project.
  void release();

  std::size_t running() const { return running_; }
  std::size_t waiting() const { return queue_.size(); }
  bool is_waiting(const std::string& project_id) const;

 private:
  struct Waiter {
    std::string project_id;
    std::function<void()> start;
  };
  std::size_t jobs_;
  std::size_t running_ = 0;
  std::deque<Waiter> queue_;
};
}  // namespace prestage::projects
