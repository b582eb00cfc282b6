"""`prestage doctor`: which build tools are found, where the daemon binary and the state dir are.

Needs no daemon. Essential (exit 1 when missing): a runnable prestaged, a usable state dir, and the
tools of at least one project kind (docs/cli.md#doctor). The rest is reported, not required."""
import glob
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from ._client import Client
from ._discovery import find_server_executable, read_server_json
from ._errors import PrestageError

_PROBE_TIMEOUT_S = 10
_PYBIND11_CMAKE_DIRS = ["/usr/lib/cmake/pybind11", "/usr/local/lib/cmake/pybind11", "/usr/share/cmake/pybind11",
                        "/usr/local/share/cmake/pybind11", *sorted(glob.glob("/usr/lib/*/cmake/pybind11"))]


class _Report:
    def __init__(self):
        self.rows = []
        self.missing_essentials = []

    def add(self, mark, name, detail):
        self.rows.append((mark, name, detail))

    def essential(self, found, name, detail):
        self.add("ok" if found else "MISSING", name, detail)
        if not found:
            self.missing_essentials.append(name)

    def optional(self, found, name, detail):
        self.add("ok" if found else "-", name, detail)

    def print(self):
        width = max(len(name) for _, name, _ in self.rows)
        for mark, name, detail in self.rows:
            print(f"  {mark:<7}  {name:<{width}}  {detail}")


def tool_version(command):
    """The first line `command --version` prints, or an explanation of why there is none."""
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"`{' '.join(command)} --version` failed: {error}"
    lines = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0:
        return None, f"`{' '.join(command)} --version` exited with {done.returncode}"
    return (lines[0].strip() if lines else "?"), None


def _find_tool(report, name, label=None):
    """Reports the tool `name` on PATH; returns its path or None."""
    path = shutil.which(name)
    if path is None:
        report.optional(False, label or name, "not found on PATH")
        return None
    version, problem = tool_version([path])
    report.optional(version is not None, label or name, f"{path}: {version or problem}")
    return path if version is not None else None


def _env_compiler(report, variable):
    value = os.environ.get(variable, "").strip()
    if not value:
        report.add("-", f"${variable}", "not set")
        return None
    words = shlex.split(value)
    path = shutil.which(words[0]) if words else None
    if path is None:
        report.add("warn", f"${variable}", f"{value!r}: {words[0] if words else value} not found on PATH")
        return None
    version, problem = tool_version([path, *words[1:]])
    report.add("ok" if version else "warn", f"${variable}", f"{value!r} -> {path}: {version or problem}")
    return path if version else None


def _header_version(include_dir):
    text = _read(Path(include_dir) / "pybind11" / "detail" / "common.h")
    parts = [re.search(rf"#define PYBIND11_VERSION_{part}\s+(\S+)", text) for part in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) for m in parts) if all(parts) else "version unknown"


def _cmake_config_version(config_dir):
    match = re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', _read(Path(config_dir) / "pybind11ConfigVersion.cmake"))
    return match.group(1) if match else "version unknown"


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _pybind11(report):
    """Reports pybind11's headers (as the daemon finds them for single .cpp files), its CMake config and
    its Python module; returns True when the daemon finds the headers."""
    module_include = module_cmake = None
    if importlib.util.find_spec("pybind11") is not None:
        try:
            import pybind11

            module_include, module_cmake = pybind11.get_include(), pybind11.get_cmake_dir()
            report.optional(True, "pybind11 module", f"{pybind11.__version__} at {os.path.dirname(pybind11.__file__)}")
        except Exception as error:  # noqa: BLE001 - a broken install is a finding, not a crash
            report.add("warn", "pybind11 module", f"importing it failed: {error}")
    else:
        report.optional(False, "pybind11 module", f"not importable by {sys.executable}")

    explicit = os.environ.get("PRESTAGE_PYBIND11_INCLUDE")
    candidates = [explicit] if explicit else ["/usr/include", "/usr/local/include"]
    headers = next((d for d in candidates if (Path(d) / "pybind11" / "pybind11.h").is_file()), None)
    if headers:
        source = " (from PRESTAGE_PYBIND11_INCLUDE)" if explicit else ""
        report.optional(True, "pybind11 headers", f"{headers}/pybind11 {_header_version(headers)}{source}")
    else:
        hint = f"; set PRESTAGE_PYBIND11_INCLUDE={module_include}" if module_include else "; apt-get install pybind11-dev"
        where = f"PRESTAGE_PYBIND11_INCLUDE={explicit}" if explicit else "/usr/include or /usr/local/include"
        report.optional(False, "pybind11 headers", f"not in {where} (single .cpp files need them){hint}")

    configs = [d for d in ([module_cmake] if module_cmake else []) + _PYBIND11_CMAKE_DIRS
               if (Path(d) / "pybind11Config.cmake").is_file()]
    if configs:
        report.optional(True, "pybind11 CMake", ", ".join(f"{d} {_cmake_config_version(d)}" for d in configs))
    else:
        report.optional(False, "pybind11 CMake", "no pybind11Config.cmake (CMake projects with find_package(pybind11) need it)")
    return headers is not None


def _python(report):
    """Reports this interpreter and its headers; returns True when Python.h is there."""
    version = ".".join(map(str, sys.version_info[:3]))
    report.essential(sys.version_info >= (3, 9), "python", f"{sys.executable}: Python {version} (prestage needs >= 3.9)")
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if header.is_file():
        report.optional(True, "python headers", str(header))
    else:
        report.optional(False, "python headers", f"no {header} (C/C++ extensions need it: install python3-dev)")
    return header.is_file()


def _inotify(report):
    limits = []
    for name in ("max_user_watches", "max_user_instances"):
        value = _read(f"/proc/sys/fs/inotify/{name}").strip()
        limits.append(f"{name} {value or 'unreadable'}")
    report.add("ok", "inotify", ", ".join(limits) + " (past them a project is polled instead)")


def _daemon_binary(report, client_version):
    executable = find_server_executable()
    source = " (from PRESTAGE_SERVER)" if os.environ.get("PRESTAGE_SERVER") else ""
    if executable is None:
        report.essential(False, "prestaged", "not found: set PRESTAGE_SERVER, put prestaged on PATH, or build it")
        return
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        report.essential(False, "prestaged", f"{executable}{source} is not an executable file")
        return
    version, problem = tool_version([executable])
    if version is None:
        report.essential(False, "prestaged", f"{executable}{source}: {problem}")
        return
    report.essential(True, "prestaged", f"{executable}{source}: {version}")
    if not version.endswith(client_version):
        report.add("warn", "versions", f"the client is {client_version}, the daemon says {version!r}")


def _state_dir(report, state_dir):
    state_dir = Path(state_dir)
    if not state_dir.exists():
        parent = next(p for p in [state_dir, *state_dir.parents] if p.exists())
        ok = os.access(parent, os.W_OK | os.X_OK)
        report.essential(ok, "state dir", f"{state_dir}: " + ("absent; the daemon creates it (mode 0700)" if ok
                                                              else f"absent, and {parent} is not writable"))
        return
    try:
        st = state_dir.stat()
    except OSError as error:
        report.essential(False, "state dir", f"{state_dir}: {error}")
        return
    problem = None
    if not state_dir.is_dir():
        problem = "is not a directory"
    elif st.st_uid != os.geteuid():
        problem = f"belongs to uid {st.st_uid}, not to you"
    elif st.st_mode & 0o022:
        problem = f"is group- or world-writable (mode {st.st_mode & 0o7777:04o}): chmod 700 {state_dir}"
    elif not os.access(state_dir, os.W_OK | os.X_OK):
        problem = "is not writable"
    report.essential(problem is None, "state dir", f"{state_dir}: " + (problem or f"mode {st.st_mode & 0o7777:04o}"))


def _running_daemon(report, state_dir):
    info = read_server_json(state_dir)
    if info is None:
        report.add("-", "daemon", "not running (`prestage open` / `prestage build` / prestage.install() start one)")
        return
    client = Client(info, state_dir)
    try:
        if not client.healthy():
            raise PrestageError("it does not answer /health")
        server = client.call("server/info", timeout=10) or {}
        report.add("ok", "daemon", f"running: pid {server.get('pid')}, port {server.get('port')}, "
                                   f"version {server.get('version')}, {server.get('projects')} open project(s)")
    except PrestageError as error:
        report.add("warn", "daemon", f"server.json names pid {info['pid']} on port {info['port']}, but {error}")
    finally:
        client.close()


def run_doctor(state_dir, client_version):
    """Prints the report; returns 0, or 1 when something essential is missing."""
    report = _Report()
    has_python_h = _python(report)
    cxx = _env_compiler(report, "CXX")
    cc = _env_compiler(report, "CC")
    cpp = _find_tool(report, "c++")
    gxx = _find_tool(report, "g++")
    clangxx = _find_tool(report, "clang++")
    cargo = _find_tool(report, "cargo")
    rustc = _find_tool(report, "rustc")
    cmake = _find_tool(report, "cmake")
    ninja = _find_tool(report, "ninja")
    meson = _find_tool(report, "meson")
    has_pybind11_headers = _pybind11(report)
    _inotify(report)

    kinds = {
        "cpp-file": _needs(("g++", gxx), ("pybind11 headers", has_pybind11_headers), ("python headers", has_python_h)),
        "cmake": _needs(("cmake", cmake), ("ninja", ninja), ("a C/C++ compiler", cxx or cc or cpp or gxx or clangxx),
                        ("python headers", has_python_h)),
        "meson": _needs(("meson", meson), ("ninja", ninja), ("a C/C++ compiler", cxx or cc or cpp or gxx or clangxx),
                        ("python headers", has_python_h)),
        "cargo, rust-file": _needs(("cargo", cargo), ("rustc", rustc)),
        "setuptools": _needs(("the setuptools module", importlib.util.find_spec("setuptools") is not None),
                             ("a C/C++ compiler", cc or gxx or cpp or clangxx), ("python headers", has_python_h)),
    }
    buildable = [kind for kind, missing in kinds.items() if not missing]
    for kind, missing in kinds.items():
        report.add("ok" if not missing else "-", f"kind {kind}", "can be built" if not missing
                   else f"cannot be built: missing {', '.join(missing)}")
    if not buildable:
        report.missing_essentials.append("the tools of at least one project kind")

    _daemon_binary(report, client_version)
    _state_dir(report, state_dir)
    _running_daemon(report, state_dir)

    print(f"prestage {client_version} doctor ({os.path.dirname(os.path.abspath(__file__))})")
    report.print()
    if report.missing_essentials:
        print(f"prestage: doctor: essential missing: {'; '.join(report.missing_essentials)}", file=sys.stderr)
        return 1
    print(f"everything essential was found (buildable kinds: {', '.join(buildable)})")
    return 0


def _needs(*requirements):
    return [name for name, found in requirements if not found]
