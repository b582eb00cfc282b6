#include "app/options.hpp"

#include <charconv>

namespace prestage::app {
namespace {
long parse_number(const std::string& option, const std::string& value, long min, long max) {
  long n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n < min || n > max)
    throw UsageError(option + " expects a number from " + std::to_string(min) + " to " + std::to_string(max) + ", got \"" + value + "\"");
  return n;
}
}  // namespace

Options parse_options(const std::vector<std::string>& args) {
  Options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
      return args[++i];
    };
    if (arg == "--help" || arg == "-h") o.show_help = true;
    else if (arg == "--version") o.show_version = true;
    else if (arg == "--state-dir") {
      o.state_dir = value();
      if (o.state_dir->empty()) throw UsageError("--state-dir must not be empty");
    } else if (arg == "--port") o.port = static_cast<unsigned short>(parse_number(arg, value(), 0, 65535));
    else if (arg == "--jobs") o.jobs = static_cast<int>(parse_number(arg, value(), 1, 256));
    else if (arg == "--watch") {
      std::string how = value();
      if (how != "auto" && how != "poll") throw UsageError("--watch must be auto or poll; got \"" + how + "\"");
      o.poll_only = how == "poll";
    }
    else if (arg == "--log-level") {
      o.log_level = value();
      static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
      bool known = false;
      for (const char* l : levels) known = known || o.log_level == l;
      if (!known) throw UsageError("--log-level must be one of trace, debug, info, warn, error, critical, off; got \"" + o.log_level + "\"");
    } else throw UsageError("unknown option " + args[i]);
  }
  return o;
}

std::string usage_text() {
  return "usage: prestaged [--state-dir DIR] [--port N] [--log-level LEVEL] [--jobs N] [--watch auto|poll]\n"
         "       prestaged --version | --help\n"
         "\n"
         "Builds and stages Python native extensions in the background.\n"
         "\n"
         "  --state-dir DIR    state directory (default: $PRESTAGE_STATE_DIR, else $XDG_RUNTIME_DIR/prestage,\n"
         "                     else ~/.cache/prestage); created with mode 0700\n"
         "  --port N           TCP port on 127.0.0.1 (default 0: an ephemeral port)\n"
         "  --log-level LEVEL  trace, debug, info (default), warn, error, critical or off\n"
         "  --jobs N           parallel builds (default 2)\n"
         "  --watch auto|poll  auto (default): inotify, polling only where it cannot watch; poll: stat-poll\n"
         "                     every project, for filesystems whose changes inotify does not see (NFS, FUSE)\n"
         "  --version          print the version and exit\n"
         "  --help             print this help and exit\n";
}
}  // namespace prestage::app
