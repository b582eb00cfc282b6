"""Fixtures for the pyclient tests: a real prestaged on a private state dir, and project copies."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import FIXTURES, PYCLIENT, REPO  # noqa: E402

sys.path.insert(0, str(PYCLIENT))
from prestage._client import Client, read_server_json  # noqa: E402
from prestage._errors import RpcError  # noqa: E402


def load_error_codes():
    """The one table of JSON-RPC error codes, schemas/error-codes.json, as name -> code."""
    return {entry["name"]: entry["code"] for entry in json.loads((REPO / "schemas" / "error-codes.json").read_text())}


# Codes by name, e.g. CODES.build_failed; tests never spell the numbers.
CODES = types.SimpleNamespace(**load_error_codes())


def server_binary():
    explicit = os.environ.get("PRESTAGE_SERVER")
    candidates = [explicit] if explicit else [REPO / "build" / "server" / "app" / "prestaged"]
    candidates += sorted(REPO.glob("build*/server/app/prestaged"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class Daemon:
    """A prestaged process on a private state dir under `root` (which holds .cargo/config.toml)."""

    def __init__(self, root, binary, extra_env=None):
        self.root = Path(root)
        self.binary = binary
        self.state_dir = self.root / "state"
        self.workspace = self.root / "ws"
        self.workspace.mkdir(parents=True)
        (self.root / ".cargo").mkdir()
        shutil.copyfile(FIXTURES / "cargo-offline.toml", self.root / ".cargo" / "config.toml")
        self.env = {"PRESTAGE_STATE_DIR": str(self.state_dir), "PRESTAGE_SERVER": binary}
        self.log = open(self.root / "prestaged.log", "wb")
        self.process = subprocess.Popen(
            [binary], cwd=self.root, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.env, **(extra_env or {})},
        )
        deadline = time.monotonic() + 60
        info = None
        while info is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"prestaged exited with {self.process.returncode}: {self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prestaged wrote no server.json within 60 s: {self.log_text()}")
            time.sleep(0.05)
            info = read_server_json(self.state_dir)
        self.client = Client(info, self.state_dir)

    def log_text(self):
        self.log.flush()
        return (self.root / "prestaged.log").read_text(errors="replace")[-4000:]

    def open_copy(self, fixture_relative, name=None):
        """Copies tests/fixtures/<fixture_relative> into the workspace and opens it."""
        source = FIXTURES / fixture_relative
        destination = self.workspace / (name or source.name)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", "build", "__pycache__"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        return destination

    def open(self, root):
        return self.client.call("project/open", {"root": str(root), "python": sys.executable})

    def project(self, project_id):
        for project in self.client.call("project/list"):
            if project["id"] == project_id:
                return project
        raise AssertionError(f"project {project_id} is not open")

    def wait_built(self, project_id, timeout=900):
        """Waits until the project is idle with a first build; returns the project dict."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            project = self.project(project_id)
            if project["state"] == "idle" and project.get("last_build") is not None:
                return project
            time.sleep(0.1)
        raise AssertionError(f"project {project_id} not built within {timeout} s:\n{self.log_text()}")

    def stop(self):
        try:
            self.client.call("shutdown", timeout=10)
        except Exception:  # noqa: BLE001
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.log.close()


def own_daemon(tmp_path_factory, label, extra_env=None):
    """A daemon of its own for one test module (its fixture stops it), or a skip when none is built."""
    binary = server_binary()
    if binary is None:
        pytest.skip("prestaged is not built")
    return Daemon(tmp_path_factory.mktemp(label), binary, extra_env=extra_env)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    binary = server_binary()
    if binary is None:
        pytest.skip("prestaged is not built (cmake --build build --target prestaged) and PRESTAGE_SERVER is unset")
    instance = Daemon(tmp_path_factory.mktemp("prestage"), binary)
    try:
        instance.client.call("spec/resolve", {"name": "prestage_probe_nothing", "python": sys.executable})
    except RpcError as error:
        if error.code == CODES.method_not_found:
            instance.stop()
            pytest.skip(f"{binary} has no spec/resolve yet (the build/stage pipeline has not landed)")
    yield instance
    instance.stop()


def write_json(path, value):
    Path(path).write_text(json.dumps(value))
