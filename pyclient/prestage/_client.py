"""Connection to prestaged: discovery, auto-start, JSON-RPC over keep-alive HTTP, push channel."""
import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from ._errors import DaemonUnavailable, PrestageError, RpcError

CLIENT_VERSION = "0.1.0"
_INITIALIZE_ID = 1


def default_state_dir():
    explicit = os.environ.get("PRESTAGE_STATE_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "prestage"
    return Path.home() / ".cache" / "prestage"


def read_server_json(state_dir):
    """The discovery record, or None when absent, unreadable or its process is gone."""
    path = Path(state_dir) / "server.json"
    try:
        info = json.loads(path.read_text())
        pid, port, token = int(info["pid"]), int(info["port"]), str(info["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return {**info, "pid": pid, "port": port, "token": token}


def find_server_executable():
    """PRESTAGE_SERVER, else prestaged on PATH, else the source tree's build/; None if none exists."""
    explicit = os.environ.get("PRESTAGE_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("prestaged")
    if on_path:
        return on_path
    repo = Path(__file__).resolve().parent.parent.parent
    candidate = repo / "build" / "server" / "app" / "prestaged"
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def start_daemon(state_dir, wait_timeout):
    """Starts prestaged detached and waits for its server.json; returns the discovery record."""
    executable = find_server_executable()
    if executable is None:
        raise DaemonUnavailable(
            "prestage: no daemon is running and prestaged was not found. Build it "
            "(cmake -S . -B build -G Ninja && cmake --build build), put it on PATH, "
            "or set PRESTAGE_SERVER to its path."
        )
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = state_dir / "prestaged.log"
    env = {**os.environ, "PRESTAGE_STATE_DIR": str(state_dir)}
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                [executable], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, close_fds=True, env=env,
            )
        except OSError as error:
            raise DaemonUnavailable(
                f"prestage: could not start {executable}: {error}. Set PRESTAGE_SERVER to a working prestaged."
            ) from error
    deadline = time.monotonic() + wait_timeout
    while time.monotonic() < deadline:
        info = read_server_json(state_dir)
        if info is not None:
            return info
        if process.poll() is not None:
            # Lost a start race to another client: its daemon may still be coming up.
            info = _wait_for_server_json(state_dir, min(2.0, deadline - time.monotonic()))
            if info is not None:
                return info
            raise DaemonUnavailable(
                f"prestage: {executable} exited with status {process.returncode} before it was ready; "
                f"see {log_path}"
            )
        time.sleep(0.02)
    raise DaemonUnavailable(
        f"prestage: {executable} did not write {state_dir / 'server.json'} within {wait_timeout:g} s; "
        f"see {log_path}, or start prestaged yourself"
    )


def _wait_for_server_json(state_dir, timeout):
    deadline = time.monotonic() + max(timeout, 0)
    while time.monotonic() < deadline:
        info = read_server_json(state_dir)
        if info is not None:
            return info
        time.sleep(0.05)
    return None


class Client:
    """JSON-RPC to one daemon over a keep-alive HTTP connection. Thread-safe."""

    def __init__(self, info, state_dir):
        self.info = info
        self.state_dir = Path(state_dir)
        self.port = info["port"]
        self.token = info["token"]
        self._connection = None
        self._lock = threading.Lock()
        self._next_id = 0

    @classmethod
    def connect(cls, state_dir=None, *, autostart=True, wait_timeout=30.0):
        state_dir = Path(state_dir) if state_dir else default_state_dir()
        info = read_server_json(state_dir)
        if info is not None:
            client = cls(info, state_dir)
            if client.healthy():
                return client
        if not autostart:
            raise DaemonUnavailable(
                f"prestage: no daemon is running for state dir {state_dir}; start prestaged "
                "or call prestage.install(), which starts it"
            )
        info = start_daemon(state_dir, wait_timeout)
        return cls(info, state_dir)

    def healthy(self):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            connection.close()
            return response.status == 200
        except OSError:
            return False

    def close(self):
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def call(self, method, params=None, timeout=60.0):
        """Sends one request; returns its result or raises RpcError/PrestageError."""
        with self._lock:
            self._next_id += 1
            request = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
            if params is not None:
                request["params"] = params
            body = json.dumps(request).encode()
            reply = self._post(body, timeout)
        if "error" in reply:
            error = reply["error"]
            raise RpcError(error.get("code"), error.get("message", ""), error.get("data"))
        return reply.get("result")

    def notify(self, method, params=None):
        with self._lock:
            request = {"jsonrpc": "2.0", "method": method}
            if params is not None:
                request["params"] = params
            self._post(json.dumps(request).encode(), 10.0, expect_body=False)

    def _post(self, body, timeout, expect_body=True):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        for attempt in (0, 1):
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            self._connection.timeout = timeout
            if self._connection.sock is not None:
                self._connection.sock.settimeout(timeout)
            try:
                self._connection.request("POST", "/rpc", body=body, headers=headers)
                response = self._connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionError, BrokenPipeError) as error:
                # The daemon closes idle keep-alive connections after 30 s: retry once on a fresh one.
                self._connection.close()
                self._connection = None
                if attempt == 1:
                    raise PrestageError(f"prestage: lost the connection to the daemon on port {self.port}: {error}") from error
                continue
            except OSError as error:
                self._connection.close()
                self._connection = None
                raise PrestageError(f"prestage: talking to the daemon on port {self.port} failed: {error}") from error
            if response.getheader("Connection", "").lower() == "close":
                self._connection.close()
                self._connection = None
            if response.status == 204:
                return {}
            if response.status != 200:
                raise PrestageError(f"prestage: daemon answered HTTP {response.status}: {payload[:200]!r}")
            return json.loads(payload) if expect_body or payload else {}
        raise AssertionError("unreachable")


class PushChannel:
    """WebSocket to /rpc on a daemon thread. It only records events; it never runs user code."""

    def __init__(self, client, on_event):
        self._client = client
        self._on_event = on_event
        self._stop = threading.Event()
        self._socket = None
        self.connected = threading.Event()
        self._joined = False  # "connected" was reported for the current session
        self._thread = threading.Thread(target=self._run, name="prestage-push", daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _run(self):
        backoff = 0.2
        while not self._stop.is_set():
            try:
                self._session()
                backoff = 0.2
            except Exception:  # noqa: BLE001 - reconnect on any failure
                pass
            finally:
                self.connected.clear()
                if self._joined:
                    self._joined = False
                    self._notify("disconnected", {})
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 5.0)

    def _notify(self, method, params):
        try:
            self._on_event(method, params)
        except Exception:  # noqa: BLE001 - a failing handler must not end the channel
            pass

    def _session(self):
        sock = socket.create_connection(("127.0.0.1", self._client.port), timeout=10)
        self._socket = sock
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /rpc HTTP/1.1\r\nHost: 127.0.0.1:{self._client.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {self._client.token}\r\n\r\n"
            )
            sock.sendall(request.encode("latin-1"))
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            status_line = head.split(b"\r\n", 1)[0].split()
            if len(status_line) < 2 or status_line[1] != b"101":
                return
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            if accept not in head:
                return
            sock.settimeout(None)
            # The daemon answers initialize only after it has subscribed this socket to its
            # notifications: "connected" means no build event can be missed from then on.
            self._send(sock, 0x1, json.dumps({
                "jsonrpc": "2.0", "id": _INITIALIZE_ID, "method": "initialize",
                "params": {"client": {"name": "prestage-python", "version": CLIENT_VERSION, "pid": os.getpid()}},
            }).encode())
            reader = _FrameReader(sock, buffer)
            parts = []
            while not self._stop.is_set():
                fin, opcode, payload = reader.frame()
                if opcode == 0x9:
                    self._send(sock, 0xA, payload)
                elif opcode == 0x8:
                    return
                elif opcode in (0x0, 0x1, 0x2):
                    parts.append(payload)
                    if fin:
                        self._dispatch(b"".join(parts))
                        parts = []
        finally:
            self._socket = None
            sock.close()

    def _dispatch(self, text):
        try:
            message = json.loads(text)
        except ValueError:
            return
        for item in message if isinstance(message, list) else [message]:
            if not isinstance(item, dict):
                continue
            if "method" in item and "id" not in item:
                self._notify(item["method"], item.get("params") or {})
            elif item.get("id") == _INITIALIZE_ID and not self.connected.is_set():
                if "error" in item:
                    raise ConnectionError(f"push channel: initialize failed: {item['error']}")
                self._joined = True
                self._notify("connected", {})  # the finder readies itself first
                self.connected.set()

    @staticmethod
    def _send(sock, opcode, payload):
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(header + mask + masked)


class _FrameReader:
    def __init__(self, sock, buffer):
        self._sock = sock
        self._buffer = buffer

    def _exact(self, count):
        while len(self._buffer) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("push channel closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def frame(self):
        b0, b1 = self._exact(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exact(8))
        if b1 & 0x80:
            mask = self._exact(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._exact(length)))
        else:
            payload = self._exact(length)
        return bool(b0 & 0x80), b0 & 0x0F, payload


def python_identity():
    return sys.executable
