"""JSON-RPC to prestaged over keep-alive loopback HTTP (see docs/protocol.md).

Thread-safe: a call takes an idle connection (or opens one) for itself, so a call that waits for a
build never holds up another thread's call. Every call runs inside the re-entrancy guard. When the
daemon is gone, the client re-reads server.json once: a restarted daemon is followed, otherwise the
call raises DaemonUnavailable naming the state dir and how to start one."""
import json
import socket
import threading
from pathlib import Path

from ._discovery import default_state_dir, not_running_message, read_server_json, start_daemon
from ._errors import DaemonUnavailable, PrestageError, RpcError
from ._http import HttpConnection, StaleConnection
from ._push import PushChannel  # noqa: F401 - part of this module's public surface
from ._reentry import GUARD

__all__ = ["Client", "PushChannel", "default_state_dir", "read_server_json"]


class _DaemonLost(Exception):
    pass


def encode(method, params=None):
    """A request body. Over HTTP each reply answers its own request, so the id is constant: the same
    call always encodes to the same bytes, which a caller on a hot path may keep."""
    request = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        request["params"] = params
    return json.dumps(request, separators=(",", ":")).encode()


class Client:
    """Calls one daemon's /rpc; follows it across a restart (a new server.json in the same state dir)."""

    def __init__(self, info, state_dir):
        self.state_dir = Path(state_dir)
        self._lock = threading.Lock()
        self._idle = []  # HttpConnections not in use
        self._replies = {}  # request body -> (reply bytes, parsed reply), for send(reuse=True)
        self._adopt(info)

    def _adopt(self, info):
        self.info = info
        self.port = info["port"]
        self.token = info["token"]
        self._idle = []

    @classmethod
    def connect(cls, state_dir=None, *, autostart=True, wait_timeout=30.0):
        state_dir = Path(state_dir) if state_dir else default_state_dir()
        with GUARD:
            info = read_server_json(state_dir)
            if info is not None:
                client = cls(info, state_dir)
                if client.healthy():
                    return client
            if not autostart:
                raise DaemonUnavailable(not_running_message(state_dir))
            return cls(start_daemon(state_dir, wait_timeout), state_dir)

    def ensure_running(self, *, autostart=True, wait_timeout=30.0):
        """Makes sure a daemon answers on this state dir: follows a restarted one, or starts one."""
        with GUARD:
            if self.healthy() or self.follow_restart():
                return
            if not autostart:
                raise DaemonUnavailable(not_running_message(self.state_dir))
            info = start_daemon(self.state_dir, wait_timeout)
            with self._lock:
                self._adopt(info)

    def healthy(self):
        with GUARD:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n\r\n".encode())
                    return sock.recv(64).split(b" ", 2)[1:2] == [b"200"]
            except (OSError, IndexError):
                return False

    def follow_restart(self):
        """True when server.json now names another live daemon, which this client then uses."""
        info = read_server_json(self.state_dir)
        with self._lock:
            if info is None or (info["port"], info["token"]) == (self.port, self.token):
                return False
            for connection in self._idle:
                connection.close()
            self._adopt(info)
            return True

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def call(self, method, params=None, timeout=60.0):
        """Sends one request; returns its result or raises RpcError / PrestageError."""
        return self.send(encode(method, params), method, timeout)

    def send(self, body, method, timeout=60.0, *, reuse=False):
        """Sends a request made by encode(). reuse: when the reply is byte for byte the last one to the
        same body, return the same parsed result (the caller must not mutate it): an unchanged
        spec/resolve answer then costs no JSON parsing."""
        with GUARD:
            payload = self._exchange(body, method, timeout)
        kept = self._replies.get(body) if reuse else None
        if kept is not None and kept[0] == payload:
            reply = kept[1]
        else:
            reply = json.loads(payload) if payload else {}
            if reuse and (body in self._replies or len(self._replies) < 256):
                self._replies[body] = (payload, reply)
        if "error" in reply:
            error = reply["error"]
            raise RpcError(error.get("code"), error.get("message", ""), error.get("data"))
        return reply.get("result")

    def notify(self, method, params=None):
        request = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            request["params"] = params
        with GUARD:
            self._exchange(json.dumps(request).encode(), method, 10.0)

    def _exchange(self, body, method, timeout):
        try:
            return self._post(body, method, timeout)
        except _DaemonLost as lost:
            if self.follow_restart():
                try:
                    return self._post(body, method, timeout)
                except _DaemonLost as again:
                    lost = again
            raise DaemonUnavailable(not_running_message(self.state_dir, str(lost))) from None

    def _post(self, body, method, timeout):
        with self._lock:
            connection = self._idle.pop() if self._idle else None
            port, token = self.port, self.token
        for attempt in (0, 1):
            if connection is None:
                connection = HttpConnection(port, token)
            try:
                status, payload = connection.post(body, timeout)
                break
            except StaleConnection:
                connection = None  # closed by the daemon while idle: once more on a fresh one
            except socket.timeout:
                raise PrestageError(f"prestage: the daemon on port {port} did not answer {method} within {timeout:g} s") from None
            except OSError as error:
                raise _DaemonLost(f"{method} on port {port}: {error}") from None
        else:
            raise _DaemonLost(f"{method} on port {port}: the connection kept closing")
        with self._lock:
            if connection.port == self.port and len(self._idle) < 8:
                self._idle.append(connection)
            else:
                connection.close()
        if status == 204:
            return b""
        if status == 401:  # another daemon took this port: its token differs
            raise _DaemonLost(f"{method} on port {port}: HTTP 401")
        if status != 200:
            raise PrestageError(f"prestage: daemon answered HTTP {status} to {method}: {payload[:200]!r}")
        return payload
