"""The push channel: a WebSocket to /rpc on a daemon thread, delivering the daemon's notifications.

It only records events and readies caches (PrestageFinder.on_event); it never runs user code, and it
runs inside the re-entrancy guard for its whole life, so its own imports never reach the finder."""
import json
import os
import socket
import threading

from . import _reentry
from ._websocket import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameReader, accept_for, encode_frame, new_key, \
    read_http_head, upgrade_request

CLIENT_VERSION = "0.1.0"
_INITIALIZE_ID = 1


class PushChannel:
    """Reconnects with backoff; after a reconnect it re-reads server.json, so it follows a restarted daemon."""

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
        _reentry.own_thread()
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
            self._client.follow_restart()

    def _notify(self, method, params):
        try:
            self._on_event(method, params)
        except Exception:  # noqa: BLE001 - a failing handler must not end the channel
            pass

    def _session(self):
        port, token = self._client.port, self._client.token
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._socket = sock
        try:
            key = new_key()
            sock.sendall(upgrade_request("/rpc", {
                "Host": f"127.0.0.1:{port}", "Sec-WebSocket-Key": key, "Authorization": f"Bearer {token}",
            }))
            status, headers, buffer = read_http_head(sock)
            if status != 101 or headers.get("sec-websocket-accept") != accept_for(key):
                return
            sock.settimeout(None)
            # The daemon answers initialize only after it has subscribed this socket to its
            # notifications: "connected" means no build event can be missed from then on.
            sock.sendall(encode_frame(OP_TEXT, json.dumps({
                "jsonrpc": "2.0", "id": _INITIALIZE_ID, "method": "initialize",
                "params": {"client": {"name": "prestage-python", "version": CLIENT_VERSION, "pid": os.getpid()}},
            }).encode()))
            reader = FrameReader(sock, buffer)
            parts = []
            while not self._stop.is_set():
                fin, opcode, payload = reader.frame()
                if opcode == OP_PING:
                    sock.sendall(encode_frame(OP_PONG, payload))
                elif opcode == OP_CLOSE:
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
