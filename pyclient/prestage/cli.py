"""The `prestage` command (docs/cli.md): status, open, close, build, log, generations, stop, doctor.

Every error is one line on stderr and an exit code: 0 ok, 1 failure (a failed build, an RPC error,
an unknown project), 2 usage error, 3 no daemon running (or, for open/build, none could be started)."""
import argparse
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

from . import __version__
from ._client import Client
from ._discovery import default_state_dir, read_server_json
from ._doctor import run_doctor
from ._errors import BUILD_TIMEOUT, DaemonUnavailable, PrestageError, RpcError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_DAEMON = 0, 1, 2, 3
MAX_BUILD_WAIT_S = 3600  # the daemon's cap on sync's wait
STOP_WAIT_S = 20.0
COMMANDS = ("status", "open", "close", "build", "log", "generations", "stop", "doctor")


class CliError(Exception):
    """A failure the user is told about in one line, with its exit code."""

    def __init__(self, message, code=EXIT_FAILED):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        if "required: COMMAND" in message:
            message = f"missing COMMAND, one of {', '.join(COMMANDS)}"
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _build_timeout(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= MAX_BUILD_WAIT_S:
        raise argparse.ArgumentTypeError(f"expected more than 0 and at most {MAX_BUILD_WAIT_S} seconds, got {text!r}")
    return value


def build_parser():
    state_dir = argparse.ArgumentParser(add_help=False)
    state_dir.add_argument(
        "--state-dir", metavar="DIR", default=argparse.SUPPRESS,
        help="the daemon's state dir (default: $PRESTAGE_STATE_DIR, else $XDG_RUNTIME_DIR/prestage, else ~/.cache/prestage)",
    )
    parser = _Parser(
        prog="prestage", parents=[state_dir],
        description="Builds and stages Python native extensions in the background (prestaged); see docs/cli.md.",
        epilog="exit codes: 0 ok, 1 failure (failed build, RPC error, unknown project), 2 usage error, 3 no daemon running",
    )
    parser.add_argument("--version", action="version", version=f"prestage {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name, handler, help_text, description=None):
        sub = commands.add_parser(name, parents=[state_dir], help=help_text, description=description or help_text)
        sub.set_defaults(handler=handler)
        return sub

    target_help = "a project's path (its directory, or a single .cpp/.rs file) or its id (see `prestage status`)"
    sub = command("status", cmd_status, "list the open projects (needs a running daemon)")
    sub.add_argument("--json", action="store_true", help="print the daemon's project/list entries as JSON")
    sub = command("open", cmd_open, "open a project in the daemon (starts one if none runs); it builds in the background")
    sub.add_argument("path", metavar="PATH", help="a project directory, or a single .cpp or .rs file")
    sub.add_argument("--python", metavar="PY", help="the interpreter to build for: a path or a name on PATH (default: this one)")
    sub = command("close", cmd_close, "close an open project (needs a running daemon)")
    sub.add_argument("target", metavar="PATH|ID", help=target_help)
    sub = command(
        "build", cmd_build, "build a project now and wait for the result (opens it, and starts a daemon, if needed)",
        "Builds a project and waits for it. An open project is rebuilt (build/run); a path that is not open yet "
        "is opened, and its first build is the one waited for. Prints ok, or the build's error lines and exits 1.",
    )
    sub.add_argument("target", metavar="PATH|ID", help=target_help)
    sub.add_argument("--timeout", metavar="S", type=_build_timeout, default=600.0,
                     help=f"give up waiting after S seconds (default 600, at most {MAX_BUILD_WAIT_S})")
    sub = command("log", cmd_log, "print the newest build's output (needs a running daemon)")
    sub.add_argument("target", metavar="PATH|ID", help=target_help)
    sub = command("generations", cmd_generations, "list a project's staged generations, newest first (needs a running daemon)")
    sub.add_argument("target", metavar="PATH|ID", help=target_help)
    sub.add_argument("--json", action="store_true", help="print the daemon's generation/list entries as JSON")
    command("stop", cmd_stop, "stop the daemon of the state dir and wait until it has exited")
    command("doctor", cmd_doctor,
            "check the compilers, cargo, cmake, ninja, pybind11, Python and inotify limits; find the daemon and the "
            "state dir (needs no daemon); exits 1 when something essential is missing")
    return parser


def main(argv=None):
    """The `prestage` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version, usage errors
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    state_dir = Path(os.path.abspath(os.path.expanduser(args.state_dir))) if "state_dir" in args else default_state_dir()
    try:
        return args.handler(args, state_dir)
    except CliError as error:
        return _fail(str(error), error.code)
    except DaemonUnavailable as error:
        return _fail(str(error), EXIT_NO_DAEMON)
    except RpcError as error:  # "params.root: unsupported project at ..." without the wire's field name
        return _fail(re.sub(r"^params\.\w+: ", "", str(error.rpc_message)), EXIT_FAILED)
    except PrestageError as error:
        return _fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # `prestage status | head -1`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - the command never ends in a traceback
        return _fail(f"unexpected {type(error).__name__}: {error}", EXIT_FAILED)


def _fail(message, code):
    message = " ".join(str(message).split("\n")).strip()
    prefix = "" if message.startswith("prestage") else "prestage: "
    print(prefix + message, file=sys.stderr)
    return code


# Connecting

def running_client(state_dir):
    """A client of the daemon already running on state_dir; exit 3 when there is none."""
    try:
        return Client.connect(state_dir, autostart=False)
    except DaemonUnavailable:
        raise CliError(
            f"no daemon running for state dir {state_dir} (`prestage open PATH` or `prestage build PATH` starts one)",
            EXIT_NO_DAEMON,
        ) from None


def starting_client(state_dir):
    """A client of the daemon on state_dir, started first (as prestage.install() does) when none runs."""
    return Client.connect(state_dir, autostart=True, wait_timeout=30.0)


# Naming projects

def _looks_like_path(target):
    return os.sep in target or target.startswith(".") or target.endswith((".cpp", ".rs"))


def _check_target(target):
    """A PATH that names nothing is an error before any daemon is asked."""
    if not os.path.exists(target) and _looks_like_path(target):
        raise CliError(f"{target} does not exist")


def _same_path(root, target):
    absolute = os.path.abspath(target)
    return root == absolute or os.path.realpath(root) == os.path.realpath(absolute)


def find_project(projects, target):
    """The project/list entry `target` names (an existing path, else an id), or None."""
    if os.path.exists(target):
        return next((p for p in projects if _same_path(str(p.get("root")), target)), None)
    return next((p for p in projects if p.get("id") == target), None)


def open_project(client, target):
    """The entry of the open project `target` names; a one-line error when none is open."""
    project = find_project(client.call("project/list") or [], target)
    if project is not None:
        return project
    if os.path.exists(target):
        raise CliError(f"{target} is not open in the daemon (open it with `prestage open {target}`)")
    raise CliError(f"no open project has the id {target!r} (`prestage status` lists them)")


def _python(requested):
    if requested is None:
        return sys.executable
    found = os.path.abspath(requested) if os.sep in requested else shutil.which(requested)
    if found is None:
        raise CliError(f"--python {requested}: not found on PATH")
    if not (os.path.isfile(found) and os.access(found, os.X_OK)):  # the daemon would take it, then fail every build
        raise CliError(f"--python {requested}: not an executable file")
    return found


# Commands

def cmd_status(args, state_dir):
    client = running_client(state_dir)
    projects = client.call("project/list") or []
    if args.json:
        print(json.dumps(projects, indent=2))
        return EXIT_OK
    info = client.call("server/info") or {}
    print(f"prestaged {info.get('version')} (pid {info.get('pid')}, port {info.get('port')}), "
          f"state dir {info.get('state_dir', state_dir)}, up {_duration(info.get('uptime_s'))}")
    if not projects:
        print("no open projects")
        return EXIT_OK
    rows = [("ID", "KIND", "STATE", "GEN", "LAST BUILD", "WATCH", "ROOT")]
    for p in projects:
        rows.append((str(p.get("id")), str(p.get("kind")), str(p.get("state")), str(p.get("generation")),
                     _last_build_text(p.get("last_build")), str((p.get("watch") or {}).get("mode", "-")), str(p.get("root"))))
    _print_table(rows)
    return EXIT_OK


def cmd_open(args, state_dir):
    if not os.path.exists(args.path):
        raise CliError(f"{args.path} does not exist")
    python = _python(args.python)
    client = starting_client(state_dir)
    result = client.call("project/open", {"root": os.path.abspath(args.path), "python": python})
    modules = ", ".join(result.get("modules") or []) or "-"
    print(f"opened {result.get('id')}: {result.get('kind')} at {result.get('root')}, modules {modules}")
    print(f"it builds in the background for {python}; `prestage build {result.get('id')}` waits for a build")
    return EXIT_OK


def cmd_close(args, state_dir):
    _check_target(args.target)
    client = running_client(state_dir)
    project = open_project(client, args.target)
    client.call("project/close", {"id": project["id"]})
    print(f"closed {project['id']} ({project.get('root')})")
    return EXIT_OK


def cmd_build(args, state_dir):
    _check_target(args.target)
    if os.path.exists(args.target):
        client = starting_client(state_dir)
        project = find_project(client.call("project/list") or [], args.target)
        if project is None:  # opening it starts its first build: that is the one to wait for
            project = client.call("project/open", {"root": os.path.abspath(args.target), "python": sys.executable})
        else:
            client.call("build/run", {"id": project["id"]})
    else:
        client = running_client(state_dir)
        project = open_project(client, args.target)
        client.call("build/run", {"id": project["id"]})
    project_id = project["id"]
    if sys.stderr.isatty():
        print(f"prestage: building {project_id} ...", file=sys.stderr, flush=True)
    return _report_build(project_id, _wait_idle(client, project_id, args.timeout))


def _wait_idle(client, project_id, timeout):
    """The project's project/list entry once its queued or running build is over."""
    wait = math.ceil(timeout)
    try:
        listed = client.call("sync", {"projects": [project_id], "wait": wait}, timeout=wait + 30)["projects"]
    except RpcError as error:
        if error.code == BUILD_TIMEOUT:
            raise CliError(f"the build of {project_id} was still running after {timeout:g} s") from None
        raise
    if not listed:
        raise CliError(f"{project_id} was closed while it was building")
    return listed[0]


def _report_build(project_id, project):
    last = project.get("last_build")
    if last is None:
        raise CliError(f"no build of {project_id} has finished")
    diagnostics = last.get("diagnostics") or []
    if last.get("ok"):
        warnings = sum(1 for d in diagnostics if d.get("severity") == "warning")
        extra = f", {warnings} warning(s)" if warnings else ""
        print(f"ok: {project_id} generation {last.get('generation')} in {last.get('duration_ms')} ms{extra}")
        return EXIT_OK
    errors = [d for d in diagnostics if d.get("severity") == "error"]
    for d in errors:
        print(f"{d.get('file', '?')}:{d.get('line', 0)}:{d.get('column', 0)}: error: {d.get('message', '')}")
    if not errors:  # a failure without parsed diagnostics (a configure step, a missing tool): the log's end
        for line in (last.get("log_tail") or "").rstrip().splitlines()[-20:]:
            print(line)
    served = f"generation {project.get('generation')} is still served" if project.get("generation") else "nothing is staged yet"
    count = f" ({len(errors)} error(s))" if errors else ""
    return _fail(f"build of {project_id} failed{count}; {served}; `prestage log {project_id}` shows its output", EXIT_FAILED)


def cmd_log(args, state_dir):
    _check_target(args.target)
    client = running_client(state_dir)
    project = open_project(client, args.target)
    result = client.call("build/log", {"id": project["id"]}) or {}
    text = result.get("log") or ""
    if not text and project.get("last_build") is None:
        print(f"no build of {project['id']} has finished yet")
    else:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return EXIT_OK


def cmd_generations(args, state_dir):
    _check_target(args.target)
    client = running_client(state_dir)
    project = open_project(client, args.target)
    generations = client.call("generation/list", {"id": project["id"]}) or []
    if args.json:
        print(json.dumps(generations, indent=2))
        return EXIT_OK
    if not generations:
        print(f"{project['id']} has no staged generation yet")
        return EXIT_OK
    rows = [("GEN", "OK", "CREATED", "DURATION", "PYTHON", "MODULES")]
    for g in generations:
        modules = ", ".join(sorted({str(a.get("module")) for a in g.get("artifacts") or []})) or "-"
        rows.append((str(g.get("generation")), "ok" if g.get("ok") else "failed", str(g.get("created_at")),
                     f"{g.get('duration_ms')} ms", str(g.get("python")), modules))
    _print_table(rows)
    return EXIT_OK


def cmd_stop(args, state_dir):
    client = running_client(state_dir)
    pid = client.info.get("pid")
    client.call("shutdown", timeout=10)
    deadline = time.monotonic() + STOP_WAIT_S
    while read_server_json(state_dir) is not None:  # gone once the daemon removed it, or its process ended
        if time.monotonic() > deadline:
            raise CliError(f"asked the daemon (pid {pid}) to stop, but it still runs after {STOP_WAIT_S:g} s")
        time.sleep(0.05)
    print(f"stopped the daemon (pid {pid}) of state dir {state_dir}")
    return EXIT_OK


def cmd_doctor(args, state_dir):
    return run_doctor(state_dir, __version__)


# Output

def _last_build_text(last):
    if not last:
        return "-"
    if last.get("ok"):
        return f"ok {last.get('duration_ms')} ms"
    errors = sum(1 for d in last.get("diagnostics") or [] if d.get("severity") == "error")
    return f"failed ({errors} error(s))" if errors else "failed"


def _duration(seconds):
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return "?"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _print_table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
