"""Fixtures that drive the real prestaged binary on private state dirs.

The binary is $PRESTAGE_SERVER, else <repo>/build/server/app/prestaged.
"""
import http.client
import itertools
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import types

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from schema_check import method_schema, validate  # noqa: E402
from wsclient import WebSocket  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
PYTHON = "/usr/bin/python3"
SERVER = pathlib.Path(os.environ.get("PRESTAGE_SERVER") or REPO / "build" / "server" / "app" / "prestaged")
START_GUARD_S = 30.0   # failure guards only, never assertions about speed
STOP_GUARD_S = 20.0


def load_error_codes():
    """The one table of JSON-RPC error codes, schemas/error-codes.json, as name -> code."""
    return {entry["name"]: entry["code"] for entry in json.loads((REPO / "schemas" / "error-codes.json").read_text())}


# Codes by name, e.g. CODES.build_failed; tests never spell the numbers.
CODES = types.SimpleNamespace(**load_error_codes())


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # lowercased names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:200]!r}>"


def check_reply(reply, method=None):
    """Validates a JSON-RPC reply envelope, and its result against the method's schema."""
    validate(reply, "jsonrpc.schema.json")
    if method and isinstance(reply, dict) and "result" in reply:
        validate(reply["result"], method_schema(method, "result"))
    return reply


class Daemon:
    """One prestaged process and a small client for it."""

    _ids = itertools.count(1)

    def __init__(self, state_dir, log_path, args=(), env=None, use_state_dir_flag=True):
        self.state_dir = pathlib.Path(state_dir) if state_dir else None
        self.log_path = pathlib.Path(log_path)
        self.args = list(args)
        self.env = env
        self.use_state_dir_flag = use_state_dir_flag
        self.proc = None
        self.info = None
        self._conn = None

    # -- lifecycle
    @property
    def command(self):
        cmd = [str(SERVER)]
        if self.use_state_dir_flag and self.state_dir is not None:
            cmd += ["--state-dir", str(self.state_dir)]
        return cmd + self.args

    def spawn(self):
        if not SERVER.is_file():
            pytest.fail(f"prestaged binary not found at {SERVER}; build it or set PRESTAGE_SERVER")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        return self

    def start(self):
        self.spawn()
        self.info = self.wait_for_server_json()
        return self

    @property
    def server_json_path(self):
        return self.state_dir / "server.json"

    def wait_for_server_json(self):
        deadline = time.monotonic() + START_GUARD_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prestaged exited with {self.proc.returncode} before writing server.json:\n{self.log()}")
            try:
                info = json.loads(self.server_json_path.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                info = None
            if info and info.get("pid") == self.proc.pid:
                validate(info, "server.json.schema.json")
                return info
            time.sleep(0.02)
        pytest.fail(f"prestaged wrote no server.json in {self.state_dir} within {START_GUARD_S}s:\n{self.log()}")

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def wait_exit(self, guard=STOP_GUARD_S):
        try:
            return self.proc.wait(timeout=guard)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"prestaged did not exit within {guard}s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig` and returns the exit code."""
        self.close_connection()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit()

    def kill9(self):
        self.close_connection()
        self.proc.kill()
        self.proc.wait()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- client
    @property
    def port(self):
        return self.info["port"]

    @property
    def token(self):
        return self.info["token"]

    @property
    def pid(self):
        return self.info["pid"]

    def auth_headers(self):
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def connection(self):
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return self._conn

    def close_connection(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, payload):
        """POSTs a JSON value on the keep-alive connection; returns (status, parsed body or None)."""
        body = json.dumps(payload).encode()
        conn = self.connection()
        try:
            conn.request("POST", "/rpc", body=body, headers=self.auth_headers())
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close_connection()  # the server may close an idle keep-alive connection
            conn = self.connection()
            conn.request("POST", "/rpc", body=body, headers=self.auth_headers())
            response = conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.close_connection()
        return response.status, (json.loads(data) if data else None)

    def call(self, method, params=None, request_id=None):
        """Sends one request; returns the whole validated reply envelope."""
        request = {"jsonrpc": "2.0", "id": request_id if request_id is not None else next(self._ids), "method": method}
        if params is not None:
            request["params"] = params
        status, reply = self.post(request)
        assert status == 200, f"{method}: HTTP {status} {reply}"
        check_reply(reply, method)
        assert reply["id"] == request["id"]
        return reply

    def rpc(self, method, params=None):
        """Returns the validated result, or raises RpcError."""
        reply = self.call(method, params)
        if "error" in reply:
            raise RpcError(reply["error"])
        # What the daemon accepted must also be valid for the params schema.
        validate(params if params is not None else {}, method_schema(method, "params"))
        return reply["result"]

    def rpc_error(self, method, params=None):
        reply = self.call(method, params)
        assert "error" in reply, f"{method} {params} should fail but returned {reply.get('result')!r}"
        return reply["error"]

    def request_raw(self, body=b"", headers=None, method="POST", path="/rpc", token=True, host=None):
        """One request on a fresh connection with full control of the headers.
        A header value of None drops that header. Returns a RawResponse."""
        all_headers = {"Host": host or f"127.0.0.1:{self.port}", "Content-Type": "application/json"}
        if token is True:
            all_headers["Authorization"] = f"Bearer {self.token}"
        elif token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in all_headers.items():
                if value is not None:
                    conn.putheader(name, value)
            if method != "GET" or body:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            response = conn.getresponse()
            return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def post_raw(self, body, headers=None, **kw):
        if isinstance(body, str):
            body = body.encode()
        return self.request_raw(body=body, headers=headers, **kw)

    def health(self, token=False, **kw):
        response = self.request_raw(method="GET", path="/health", token=token, headers={"Content-Type": None}, **kw)
        if response.status == 200:
            validate(response.json(), "health.schema.json#/$defs/" + ("authenticated" if token else "anonymous"))
        return response

    def ws(self, token=True, **kw):
        return WebSocket(self.port, token=self.token if token is True else (token or None), **kw)


@pytest.fixture
def start_daemon(tmp_path):
    """Factory: start_daemon(state_dir=None, args=(), env=None, use_state_dir_flag=True, wait=True).
    Every daemon still running at teardown is stopped with SIGTERM."""
    started = []
    counter = itertools.count()

    def start(state_dir=None, args=(), env=None, use_state_dir_flag=True, wait=True):
        n = next(counter)
        daemon = Daemon(state_dir if state_dir is not None else tmp_path / "state",
                        tmp_path / f"prestaged-{n}.log", args=args, env=env, use_state_dir_flag=use_state_dir_flag)
        started.append(daemon)
        return daemon.start() if wait else daemon.spawn()

    yield start
    for daemon in started:
        if daemon.running():
            daemon.stop()
        if daemon.log():
            print(f"--- {daemon.log_path.name}\n{daemon.log()}")


@pytest.fixture
def daemon(start_daemon):
    """A running daemon on a private state dir; stopped with SIGTERM, asserting a clean exit."""
    d = start_daemon()
    yield d
    if d.running():
        assert d.stop() == 0, f"prestaged did not exit cleanly on SIGTERM:\n{d.log()}"
        assert not d.server_json_path.exists(), "server.json left behind after SIGTERM"


# ---------------------------------------------------------------- sample projects

PYO3_LIB = """use pyo3::prelude::*;

#[pyfunction]
fn answer() -> i64 { 42 }

#[pymodule]
fn {name}(_py: Python, m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(answer, m)?)?;
    Ok(())
}
"""

PYBIND_SRC = """#include <pybind11/pybind11.h>
int answer() { return 42; }
PYBIND11_MODULE({name}, m) { m.def("answer", &answer); }
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_cargo_pyo3(base, name="cargo_demo"):
    root = base / name
    _write(root / "Cargo.toml", f"""[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[dependencies]
pyo3 = {{ version = "0.17", features = ["extension-module"] }}
""")
    _write(root / "src" / "lib.rs", PYO3_LIB.replace("{name}", name))
    return root, [name]


def make_maturin_pyproject(base, name="mat_pkg"):
    """Detected through pyproject.toml alone: the Cargo.toml names no pyo3 dependency."""
    root = base / name
    _write(root / "pyproject.toml", f"""[build-system]
requires = ["maturin>=1,<2"]
build-backend = "maturin"

[project]
name = "{name}"
version = "0.1.0"

[tool.maturin]
module-name = "{name}._native"
python-source = "python"
""")
    _write(root / "Cargo.toml", f"""[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]
""")
    _write(root / "src" / "lib.rs", "")
    _write(root / "python" / name / "__init__.py", "from ._native import *\n")
    return root, [name]


def make_cmake_pybind11(base, name="cm_pkg"):
    root = base / name
    _write(root / "CMakeLists.txt", f"""cmake_minimum_required(VERSION 3.15)
project({name} LANGUAGES CXX)
find_package(pybind11 CONFIG REQUIRED)
pybind11_add_module(_core src/main.cpp)
install(TARGETS _core DESTINATION {name})
""")
    _write(root / "src" / "main.cpp", PYBIND_SRC.replace("{name}", "_core"))
    _write(root / "src" / name / "__init__.py", "from ._core import *\n")
    return root, [name]


def make_scikit_build_core(base, name="skb_pkg"):
    """Detected through pyproject.toml alone: the CMakeLists.txt does not mention pybind11."""
    root = base / name
    _write(root / "pyproject.toml", f"""[build-system]
requires = ["scikit-build-core"]
build-backend = "scikit_build_core.build"

[project]
name = "{name}"
version = "0.1.0"
""")
    _write(root / "CMakeLists.txt", f"""cmake_minimum_required(VERSION 3.15)
project({name} LANGUAGES C)
find_package(Python COMPONENTS Interpreter Development.Module REQUIRED)
python_add_library(_core MODULE src/core.c WITH_SOABI)
install(TARGETS _core DESTINATION {name})
""")
    _write(root / "src" / "core.c", "#include <Python.h>\n")
    _write(root / "src" / name / "__init__.py", "from ._core import *\n")
    return root, [name]


def make_rust_file(base, name="fastmod"):
    return _write(base / f"{name}.rs", PYO3_LIB.replace("{name}", name)), [name]


def make_cpp_file(base, name="cppmod"):
    return _write(base / f"{name}.cpp", PYBIND_SRC.replace("{name}", name)), [name]


SAMPLE_PROJECTS = {
    # label: (factory, expected kind)
    "cargo-pyo3": (make_cargo_pyo3, "cargo"),
    "maturin-pyproject": (make_maturin_pyproject, "cargo"),
    "cmake-pybind11": (make_cmake_pybind11, "cmake"),
    "scikit-build-core": (make_scikit_build_core, "cmake"),
    "rust-file": (make_rust_file, "rust-file"),
    "cpp-file": (make_cpp_file, "cpp-file"),
}


@pytest.fixture
def projects_dir(tmp_path):
    path = tmp_path / "projects"
    path.mkdir()
    return path


@pytest.fixture
def single_cpp(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    source = work / "single_cpp.cpp"
    shutil.copy(FIXTURES / "single" / "single_cpp.cpp", source)
    return source


@pytest.fixture
def cmake_pkg(tmp_path):
    root = tmp_path / "work" / "cmake_pkg"
    shutil.copytree(FIXTURES / "cmake_pkg", root)
    return root
