#include "projects/build_slots.hpp"

#include <algorithm>

namespace prestage::projects {

void BuildSlots::acquire(const std::string& project_id, std::function<void()> start) {
  auto queued = std::find_if(queue_.begin(), queue_.end(), [&](const Waiter& w) { return w.project_id == project_id; });
  if (queued != queue_.end()) {
    queued->start = std::move(start);
    return;
  }
  if (running_ < jobs_) {
    ++running_;
    start();
    return;
  }
  queue_.push_back({project_id, std::move(start)});
}

void BuildSlots::forget(const std::string& project_id) {
  std::erase_if(queue_, [&](const Waiter& w) { return w.project_id == project_id; });
}

void BuildSlots::release() {
  if (running_ > 0) --running_;
  while (running_ < jobs_ && !queue_.empty()) {
    Waiter next = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    next.start();
  }
}

bool BuildSlots::is_waiting(const std::string& project_id) const {
  return std::any_of(queue_.begin(), queue_.end(), [&](const Waiter& w) { return w.project_id == project_id; });
}
}  // namespace prestage::projects
