#define BOOST_PROCESS_USE_STD_FS 1
#include "builders/process_runner.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/args.hpp>
#include <boost/process/async.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/start_dir.hpp>
#include <cstdlib>
#include <cstring>
#include <sys/wait.h>
#include <stdexcept>

namespace prestage::builders {
namespace bp = boost::process;

std::optional<fs::path> find_on_path(const std::string& name, const std::string& path_value) {
  if (name.find('/') != std::string::npos) {
    fs::path p(name);
    if (::access(p.c_str(), X_OK) == 0 && fs::is_regular_file(p)) return p;
    return std::nullopt;
  }
  std::string path = path_value;
  if (path.empty()) {
    const char* env = std::getenv("PATH");
    path = env ? env : "";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    fs::path candidate = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.is_absolute() ? candidate : fs::absolute(candidate);
    }
    start = end + 1;
  }
  return std::nullopt;
}

void BoundedLog::append_line(std::string_view line) {
  if (line.size() > max_log_line) {
    buffer_.append(line.substr(0, max_log_line));
    buffer_.append(" [... " + std::to_string(line.size() - max_log_line) + " bytes cut]");
  } else {
    buffer_.append(line);
  }
  buffer_.push_back('\n');
  if (buffer_.size() > 2 * capacity_) {
    std::size_t cut = buffer_.size() - capacity_;
    std::size_t nl = buffer_.find('\n', cut);
    cut = (nl == std::string::npos) ? cut : nl + 1;
    dropped_ += cut;
    buffer_.erase(0, cut);
  }
}

std::string BoundedLog::text() const {
  if (buffer_.size() <= capacity_) return buffer_;
  std::size_t cut = buffer_.size() - capacity_;
  std::size_t nl = buffer_.find('\n', cut);
  if (nl != std::string::npos && nl + 1 < buffer_.size()) cut = nl + 1;
  return buffer_.substr(cut);
}

struct ProcessRun::Impl {
  boost::asio::io_context& io;
  bp::async_pipe out_pipe;
  bp::async_pipe err_pipe;
  bp::child child;
  boost::asio::steady_timer kill_timer;
  boost::asio::steady_timer drain_timer;  // pipes held open by a leftover grandchild
  LineFn on_line;
  ExitFn on_exit;
  std::array<char, 65536> out_buf{};
  std::array<char, 65536> err_buf{};
  std::string out_partial, err_partial;
  bool out_overlong = false, err_overlong = false;
  bool out_eof = false, err_eof = false;
  bool exited = false;
  bool finished = false;
  bool cancel_requested = false;
  int native_status = 0;
  int pgid = 0;

  explicit Impl(boost::asio::io_context& io_)
      : io(io_), out_pipe(io_), err_pipe(io_), kill_timer(io_), drain_timer(io_) {}

  void feed(StreamKind kind, const char* data, std::size_t n) {
    std::string& partial = kind == StreamKind::out ? out_partial : err_partial;
    bool& overlong = kind == StreamKind::out ? out_overlong : err_overlong;
    std::size_t pos = 0;
    while (pos < n) {
      const char* nl = static_cast<const char*>(std::memchr(data + pos, '\n', n - pos));
      std::size_t end = nl ? static_cast<std::size_t>(nl - data) : n;
      if (!overlong) {
        std::size_t room = max_line_bytes - partial.size();
        std::size_t take = std::min(room, end - pos);
        partial.append(data + pos, take);
        if (take < end - pos) overlong = true;
      }
      if (!nl) break;
      emit(kind, partial);
      partial.clear();
      overlong = false;
      pos = end + 1;
    }
  }

  void emit(StreamKind kind, std::string& line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (on_line) on_line(kind, line);
  }

  void flush(StreamKind kind) {
    std::string& partial = kind == StreamKind::out ? out_partial : err_partial;
    if (!partial.empty()) emit(kind, partial);
    partial.clear();
  }

  void maybe_finish() {
    if (finished || !exited) return;
    if (!(out_eof && err_eof)) {
      // The child is gone but something in its group still holds a pipe: give it a moment.
      drain_timer.expires_after(std::chrono::seconds(2));
      drain_timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || finished) return;
        if (pgid > 0) ::kill(-pgid, SIGKILL);
        boost::system::error_code ignored;
        out_pipe.close(ignored);
        err_pipe.close(ignored);
      });
      return;
    }
    finished = true;
    kill_timer.cancel();
    drain_timer.cancel();
    ProcessExit result;
    if (WIFEXITED(native_status)) {
      result.exit_code = WEXITSTATUS(native_status);
    } else if (WIFSIGNALED(native_status)) {
      result.signaled = true;
      result.signal = WTERMSIG(native_status);
    }
    result.cancelled = cancel_requested;
    auto fn = std::move(on_exit);
    on_line = nullptr;
    if (fn) fn(result);
  }
};

namespace {
// In the forked child: no daemon socket or file leaks into the tool. Stdio (0-2) is already
// set up; Boost's own exec-error pipe is close-on-exec anyway. Async-signal-safe.
void mark_inherited_fds_cloexec() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  for (int fd = 3; fd < 4096; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

void read_loop(std::shared_ptr<ProcessRun> self, ProcessRun::Impl* impl, StreamKind kind) {
  bp::async_pipe& pipe = kind == StreamKind::out ? impl->out_pipe : impl->err_pipe;
  auto& buf = kind == StreamKind::out ? impl->out_buf : impl->err_buf;
  pipe.async_read_some(boost::asio::buffer(buf), [self, impl, kind](const boost::system::error_code& ec, std::size_t n) {
    auto& buffer = kind == StreamKind::out ? impl->out_buf : impl->err_buf;
    if (n > 0) impl->feed(kind, buffer.data(), n);
    if (ec) {
      impl->flush(kind);
      (kind == StreamKind::out ? impl->out_eof : impl->err_eof) = true;
      impl->maybe_finish();
      return;
    }
    read_loop(self, impl, kind);
  });
}
}  // namespace

ProcessRun::ProcessRun(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessRun::~ProcessRun() {
  if (impl_ && impl_->child.valid() && !impl_->exited) {
    if (impl_->pgid > 0) ::kill(-impl_->pgid, SIGKILL);
    std::error_code ec;
    impl_->child.wait(ec);
  }
  if (impl_) impl_->child.detach();
}

int ProcessRun::pid() const { return impl_->pgid; }

std::shared_ptr<ProcessRun> ProcessRun::start(boost::asio::io_context& io, const ProcessSpec& spec, LineFn on_line,
                                              ExitFn on_exit) {
  auto impl = std::make_unique<Impl>(io);
  impl->on_line = std::move(on_line);
  impl->on_exit = std::move(on_exit);
  Impl* raw = impl.get();
  auto self = std::shared_ptr<ProcessRun>(new ProcessRun(std::move(impl)));

  bp::environment env = boost::this_process::environment();
  for (const auto& [key, value] : spec.extra_env) env[key] = value;

  // Holds `self` until the child is reaped. Runs on `io`; Boost.Process stored the raw
  // wait status before calling it. Boost.Process 1.81 calls this while iterating its SIGCHLD
  // receiver list, and on_exit may start the next process (which appends to that list), so
  // finishing waits for a later turn of `io`.
  auto exit_handler = [self, raw](int, const std::error_code&) {
    raw->native_status = raw->child.native_exit_code();
    raw->exited = true;
    boost::asio::post(raw->io, [self, raw] { raw->maybe_finish(); });
  };
  try {
    raw->child = bp::child(bp::exe = spec.executable.string(), bp::args = spec.args,
                           bp::start_dir = spec.working_dir.string(), env, bp::std_in < bp::null,
                           bp::std_out > raw->out_pipe, bp::std_err > raw->err_pipe, bp::on_exit = exit_handler, io,
                           bp::extend::on_exec_setup = [](auto&) {
                             ::setpgid(0, 0);
                             mark_inherited_fds_cloexec();
                           });
  } catch (const std::exception& e) {
    raw->on_line = nullptr;
    raw->on_exit = nullptr;
    throw std::runtime_error("cannot start " + spec.executable.string() + ": " + e.what());
  }
  raw->pgid = raw->child.id();
  ::setpgid(raw->pgid, raw->pgid);  // harmless if the child already did it

  read_loop(self, raw, StreamKind::out);
  read_loop(self, raw, StreamKind::err);
  return self;
}

void ProcessRun::cancel(std::chrono::milliseconds grace) {
  Impl* impl = impl_.get();
  if (impl->finished || impl->cancel_requested) return;
  impl->cancel_requested = true;
  if (impl->pgid <= 0) return;
  ::kill(-impl->pgid, SIGTERM);
  auto self = shared_from_this();
  impl->kill_timer.expires_after(grace);
  impl->kill_timer.async_wait([self, impl](const boost::system::error_code& ec) {
    if (ec || impl->finished) return;
    ::kill(-impl->pgid, SIGKILL);
  });
}
}  // namespace prestage::builders
