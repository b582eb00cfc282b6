#pragma once
// The newest build result per target interpreter, and which one came last. Io thread only.
#include <map>
#include <optional>
#include <string>

#include "projects/project_state.hpp"

namespace prestage::projects {

class BuildRecords {
 public:
  void set(const std::string& python_key, BuildRecord record) {
    records_[python_key] = std::move(record);
    last_key_ = python_key;
  }
  const BuildRecord* find(const std::string& python_key) const {
    auto it = records_.find(python_key);
    return it == records_.end() ? nullptr : &it->second;
  }
  bool has(const std::string& python_key) const { return records_.count(python_key) != 0; }
  // The result recorded last, for any interpreter.
  const BuildRecord* last() const { return find(last_key_); }

 private:
  std::map<std::string, BuildRecord> records_;
  std::string last_key_;
};
}  // namespace prestage::projects
