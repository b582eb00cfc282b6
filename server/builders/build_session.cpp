
#include <boost/asio/post.hpp>
#include <cstdlib>

#include "builders/build_session.hpp"
#include "builders/diagnostics.hpp"

namespace prestage::builders {

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  auto first = s.find_first_not_of(ws);
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(ws);
  return s.substr(first, last - first + 1);
}

BuildSession::BuildSession(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done)
    : io_(io), job_(std::move(job)), progress_(std::move(progress)), done_(std::move(done)) {}

void BuildSession::cancel() {
  if (finished_ || cancelled_) return;
  cancelled_ = true;
  if (current_) {
    current_->cancel();  // its exit finishes the build as cancelled
  } else {
    // Between steps (or not started yet): finish from the io thread.
    boost::asio::post(io_, [self = shared_from_this()] {
      if (!self->finished_ && !self->current_) self->finish();
    });
  }
}

void BuildSession::guarded(const std::function<void()>& step) {
  try {
    step();
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void BuildSession::run_tool(const std::string& tool, std::vector<std::string> args, const fs::path& cwd,
                            std::vector<std::pair<std::string, std::string>> extra_env, LineFn on_line, NextFn next) {
  if (finished_) return;
  if (cancelled_) return finish();
  auto executable = find_on_path(tool);
  if (!executable) return fail(tool + " not found on PATH");
  std::string command = "$ " + tool;
  for (const auto& a : args) command += " " + a;
  log(command);
  ProcessSpec spec{*executable, std::move(args), cwd, std::move(extra_env)};
  auto self = shared_from_this();
  tool_tail_.clear();
  auto line_handler = [self, on_line = std::move(on_line)](StreamKind kind, const std::string& line) {
    if (self->finished_) return;
    if (!trim(line).empty()) {
      self->tool_tail_.push_back(line.substr(0, 400));
      if (self->tool_tail_.size() > 20) self->tool_tail_.pop_front();
    }
    try {
      on_line(kind, line);
    } catch (const std::exception& e) {
      self->log(std::string("internal error while reading tool output: ") + e.what());
    }
  };
  auto exit_handler = [self, tool, next = std::move(next)](ProcessExit exit) {
    self->current_.reset();
    if (self->finished_) return;
    if (exit.cancelled || self->cancelled_) return self->finish();
    self->guarded([&] { next(exit); });
  };
  try {
    current_ = ProcessRun::start(io_, spec, std::move(line_handler), std::move(exit_handler));
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

bool BuildSession::take_gcc_json_line(std::string_view line, const fs::path& base_dir, const fs::path& project_root) {
  auto diags = diagnostics_from_gcc_json_line(line, base_dir, project_root);
  if (!diags) return false;
  for (auto& d : *diags) {
    log(render_diagnostic(d));
    add_diagnostic(std::move(d));
  }
  return true;
}

void BuildSession::add_diagnostic(Diagnostic d) {
  if (output_.diagnostics.size() < max_diagnostics) output_.diagnostics.push_back(std::move(d));
}

void BuildSession::report_progress(BuildProgress progress) {
  if (progress_ && !finished_) progress_(monotone_.apply(std::move(progress)));
}

std::size_t BuildSession::error_count() const {
  std::size_t n = 0;
  for (const auto& d : output_.diagnostics) n += d.severity == "error";
  return n;
}

void BuildSession::succeed() {
  if (finished_) return;
  output_.ok = true;
  std::size_t warnings = 0;
  for (const auto& d : output_.diagnostics) warnings += d.severity == "warning";
  output_.summary = "built " + std::to_string(output_.artifacts.size()) + " extension module" +
                    (output_.artifacts.size() == 1 ? "" : "s") +
                    (warnings ? ", " + std::to_string(warnings) + " warning" + (warnings == 1 ? "" : "s") : "");
  finish();
}

void BuildSession::fail(std::string summary) {
  if (finished_) return;
  output_.ok = false;
  if (error_count() == 0) {
    Diagnostic d;
    d.file = job_.project.root.string();
    d.severity = "error";
    d.message = summary;
    output_.diagnostics.push_back(std::move(d));
  }
  log("prestage: build failed: " + summary);
  output_.summary = std::move(summary);
  finish();
}

void BuildSession::fail_tool_exit(const std::string& tool, const ProcessExit& exit) {
  std::size_t errors = error_count();
  if (errors > 0) {
    output_.ok = false;
    output_.summary = std::to_string(errors) + " error" + (errors == 1 ? "" : "s");
    log("prestage: build failed: " + output_.summary);
    return finish();
  }
  std::string what = exit.signaled ? tool + " was killed by signal " + std::to_string(exit.signal)
                                   : tool + " exited with code " + std::to_string(exit.exit_code);
  if (tool_tail_.empty()) return fail(what);
  // The tool printed nothing machine-readable: its last lines say what went wrong.
  std::string tail, last;
  for (const auto& line : tool_tail_) tail += line + "\n";
  for (std::size_t i = tool_tail_.size() > 4 ? tool_tail_.size() - 4 : 0; i < tool_tail_.size(); ++i)
    last += (last.empty() ? "" : " | ") + std::string(trim(tool_tail_[i]));
  Diagnostic d;
  d.file = job_.project.root.string();
  d.severity = "error";
  d.message = what + "; its last output:\n" + tail;
  add_diagnostic(std::move(d));
  fail(what + ": " + last);
}

void BuildSession::finish() {
  if (finished_) return;
  finished_ = true;
  if (cancelled_) {
    output_.ok = false;
    output_.cancelled = true;
    output_.artifacts.clear();
    output_.extra_files.clear();
    output_.summary = "cancelled";
    log("prestage: build cancelled");
  }
  output_.log_tail = log_.text();
  // Always deliver from the io thread, never from inside start_build() or cancel().
  boost::asio::post(io_, [done = std::move(done_), out = std::move(output_)]() mutable {
    if (done) done(std::move(out));
  });
  progress_ = nullptr;
}

std::shared_ptr<BuildTask> start_session(boost::asio::io_context& io, BuildJob job, ProgressFn progress, DoneFn done,
                                         std::function<void(const std::shared_ptr<BuildSession>&)> first_step) {
  auto session = std::make_shared<BuildSession>(io, std::move(job), std::move(progress), std::move(done));
  boost::asio::post(io, [session, first_step = std::move(first_step)] {
    if (session->finished()) return;
    session->guarded([&] {
      std::error_code ec;
      fs::create_directories(session->job().work_dir, ec);
      if (ec) throw BuildError("cannot create work dir " + session->job().work_dir.string() + ": " + ec.message());
      first_step(session);
    });
  });
  return session;
}
}  // namespace prestage::builders
