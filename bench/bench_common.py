"""Shared bits of the bench: a private prestaged, fixture copies, edits, timing helpers."""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
PYTHON = "/usr/bin/python3"
sys.path.insert(0, str(REPO / "pyclient"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
from prestage._client import Client, read_server_json  # noqa: E402
from wsclient import WebSocket  # noqa: E402

GUARD_S = 600  # failure guard only, never a measurement bound


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def server_binary():
    explicit = os.environ.get("PRESTAGE_SERVER")
    binary = Path(explicit) if explicit else REPO / "build" / "server" / "app" / "prestaged"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        sys.exit(f"bench: prestaged not found at {binary}; build it with "
                 "`cmake --build build -j2 --target prestaged` or set PRESTAGE_SERVER")
    return str(binary)


def write_cargo_config(root):
    (Path(root) / ".cargo").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / "cargo-offline.toml", Path(root) / ".cargo" / "config.toml")


class Daemon:
    """A prestaged on a private state dir `root/state`."""

    def __init__(self, root, name="daemon"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.root / "state"
        self.env = {**os.environ, "PRESTAGE_STATE_DIR": str(self.state_dir), "PRESTAGE_SERVER": server_binary()}
        self.log_path = self.root / f"{name}.log"
        self.process = None
        self.start()

    def start(self):
        """Starts the daemon; returns seconds from spawn to server.json plus a first answered RPC."""
        info_file = self.state_dir / "server.json"
        if info_file.exists():
            info_file.unlink()
        self.log_file = open(self.log_path, "ab")
        began = time.perf_counter()
        self.process = subprocess.Popen([self.env["PRESTAGE_SERVER"]], cwd=self.root, stdin=subprocess.DEVNULL,
                                        stdout=self.log_file, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 120
        info = None
        while info is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"prestaged exited with {self.process.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prestaged wrote no server.json within 120 s; see {self.log_path}")
            time.sleep(0.002)
            info = read_server_json(self.state_dir)
        self.info = info
        self.client = Client(info, self.state_dir)
        self.client.call("server/info")
        return time.perf_counter() - began

    @property
    def pid(self):
        return self.process.pid

    def call(self, method, params=None, timeout=GUARD_S):
        return self.client.call(method, params, timeout=timeout)

    def open(self, root):
        return self.call("project/open", {"root": str(root), "python": PYTHON})

    def projects(self):
        return self.call("project/list")

    def wait_idle(self, project_id=None, timeout=GUARD_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            projects = [p for p in self.projects() if project_id is None or p["id"] == project_id]
            if projects and all(p["state"] == "idle" and p["last_build"] is not None for p in projects):
                return projects
            time.sleep(0.1)
        raise RuntimeError(f"bench: project {project_id or '(all)'} not idle within {timeout} s; see {self.log_path}")

    def ws(self):
        return WebSocket(self.info["port"], token=self.info["token"], timeout=GUARD_S)

    def stop(self):
        if self.process is None:
            return
        try:
            self.client.call("shutdown", timeout=10)
        except Exception:  # noqa: BLE001 - a dead daemon is stopped below
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.log_file.close()
        self.process = None


def copy_fixture(relative, destination):
    source = FIXTURES / relative
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", "build", "__pycache__"))
    else:
        shutil.copyfile(source, destination)
    return destination


class Toggle:
    """Rewrites a fixture's value line between two values (10 <-> 20), as a save would."""

    def __init__(self, path, first, second):
        self.path, self.values, self.index = Path(path), (first, second), 0
        if first not in self.path.read_text():
            raise RuntimeError(f"bench: {first!r} not found in {self.path}")

    @property
    def expected(self):
        return 10 if self.index == 0 else 20

    def flip(self):
        text = self.path.read_text()
        old, new = self.values[self.index], self.values[1 - self.index]
        self.path.write_text(text.replace(old, new, 1))
        self.index = 1 - self.index
        return self.expected


TOGGLES = {
    "pyo3_pure": ("src/lib.rs", "\n    10\n", "\n    20\n"),
    "maturin_mixed": ("src/lib.rs", "\n    10\n", "\n    20\n"),
    "cmake_pkg": ("src/core.cpp", "return 10;", "return 20;"),
}


def run_json(code, env, timeout=GUARD_S):
    """Runs python code in a fresh /usr/bin/python3; its last stdout line is JSON."""
    full_env = {**env, "PYTHONPATH": str(REPO / "pyclient")}
    result = subprocess.run([PYTHON, "-c", code], env=full_env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"bench subprocess failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
