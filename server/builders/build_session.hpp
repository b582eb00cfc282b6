#pragma once
// One running build, as a chain of tool runs. Backends (cargo, cmake, g++, rust-file) drive
// it; it owns the log, the diagnostics and the single `done` call.
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "builders/build.hpp"
#include "builders/process_runner.hpp"

namespace prestage::builders {

class BuildSession : public BuildTask, public std::enable_shared_from_this<BuildSession> {
 public:
  using LineFn = std::function<void(StreamKind, const std::string&)>;
  using NextFn = std::function<void(const ProcessExit&)>;

  static constexpr std::size_t max_diagnostics = 500;

  BuildSession(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done);

  void cancel() override;

  // Runs `tool` (looked up on PATH first; a missing one fails the build with
  // "<tool> not found on PATH"). `next` runs after it exits, unless the build was cancelled.
  // Exceptions thrown by `on_line` or `next` fail the build with their message.
  void run_tool(const std::string& tool, std::vector<std::string> args, const fs::path& cwd,
                std::vector<std::pair<std::string, std::string>> extra_env, LineFn on_line, NextFn next);

  // Runs `step` now, turning an exception into a failed build.
  void guarded(const std::function<void()>& step);

  void log(std::string_view line) { log_.append_line(line); }
  void add_diagnostic(Diagnostic d);
  // A line of GCC's -fdiagnostics-format=json output: its diagnostics logged (as compilers print
  // them) and added; true when the line was one. Paths resolve against `base_dir`.
  bool take_gcc_json_line(std::string_view line, const fs::path& base_dir, const fs::path& project_root);
  void report_progress(const std::string& message) { report_progress(BuildProgress{message, {}, {}}); }
  void report_progress(BuildProgress progress);  // a fraction that would go back is dropped

  // Finishing; each is a no-op once the build has finished.
  void succeed();
  void fail(std::string summary);                 // also adds an error diagnostic when none exists
  // Summary from the error diagnostics; without any, the last lines of the tool's own output go into
  // the summary and into an error diagnostic, so the user sees more than an exit code.
  void fail_tool_exit(const std::string& tool, const ProcessExit& exit);

  const BuildJob& job() const { return job_; }
  BuildOutput& output() { return output_; }
  bool finished() const { return finished_; }
  boost::asio::io_context& io() { return io_; }

 private:
  void finish();
  std::size_t error_count() const;

  boost::asio::io_context& io_;
  BuildJob job_;
  ProgressFn progress_;
  MonotoneProgress monotone_;
  DoneFn done_;
  BuildOutput output_;
  BoundedLog log_;
  std::shared_ptr<ProcessRun> current_;
  std::deque<std::string> tool_tail_;  // the running (or last) tool's last output lines
  bool cancelled_ = false;
  bool finished_ = false;
};

// A backend's start(): a session whose `first_step` runs on `io` after the work dir exists (an
// exception it throws fails the build with its message).
std::shared_ptr<BuildTask> start_session(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done,
                                         std::function<void(const std::shared_ptr<BuildSession>&)> first_step);

// Trims ASCII whitespace at both ends.
std::string_view trim(std::string_view s);
}  // namespace prestage::builders
