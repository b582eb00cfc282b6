"""A minimal stdlib WebSocket client (RFC 6455): handshake, masked text frames,
ping/pong and close. Enough to talk JSON-RPC to prestaged on /rpc."""
import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status, headers, body):
        super().__init__(f"WebSocket upgrade refused with HTTP {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


class ConnectionClosed(Exception):
    pass


def read_http_head(sock, buffer=b"", limit=65536):
    """Reads up to the blank line; returns (status, headers dict lowercased, rest of buffer)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionClosed(f"connection closed during HTTP head: {buffer[:200]!r}")
        buffer += chunk
        if len(buffer) > limit:
            raise ConnectionClosed("HTTP head too long")
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


class WebSocket:
    def __init__(self, port, token=None, host_header=None, origin=None, path="/rpc", timeout=30.0, extra_headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self._buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {
            "Host": host_header or f"127.0.0.1:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if origin is not None:
            headers["Origin"] = origin
        headers.update(extra_headers or {})
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(request.encode("latin-1"))
        status, response_headers, rest = read_http_head(self.sock)
        if status != 101:
            body = rest
            length = int(response_headers.get("content-length", "0") or 0)
            try:
                while len(body) < length:
                    chunk = self.sock.recv(4096)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
            self.sock.close()
            raise HandshakeRefused(status, response_headers, body)
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if response_headers.get("sec-websocket-accept") != expected:
            self.sock.close()
            raise AssertionError(f"bad Sec-WebSocket-Accept {response_headers.get('sec-websocket-accept')!r}, expected {expected!r}")
        self.response_headers = response_headers
        self._buffer = rest
        self.closed = False

    # -- frames
    def _send_frame(self, opcode, payload):
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
        self.sock.sendall(header + mask + masked)

    def _read_exact(self, n, deadline):
        while len(self._buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out waiting for a WebSocket frame")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                raise ConnectionClosed("server closed the WebSocket connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read_frame(self, deadline):
        b0, b1 = self._read_exact(2, deadline)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b1 & 0x80:
            raise AssertionError("server frames must not be masked (RFC 6455 5.1)")
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8, deadline))
        return fin, opcode, self._read_exact(length, deadline)

    def send_text(self, text):
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def recv_text(self, timeout=None):
        """Next complete text message; answers pings; raises ConnectionClosed on close."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        parts = []
        while True:
            fin, opcode, payload = self._read_frame(deadline)
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self.closed = True
                raise ConnectionClosed(f"close frame {payload[:2].hex()} {payload[2:]!r}")
            if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode("utf-8")

    # -- JSON-RPC helpers
    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def recv_json(self, timeout=None):
        return json.loads(self.recv_text(timeout))

    def close(self):
        if not self.closed:
            try:
                self._send_frame(OP_CLOSE, struct.pack("!H", 1000))
                deadline = time.monotonic() + 5
                while True:
                    _, opcode, _ = self._read_frame(deadline)
                    if opcode == OP_CLOSE:
                        break
            except (OSError, ConnectionClosed, TimeoutError):
                pass
            self.closed = True
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
