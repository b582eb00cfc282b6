"""WebSocket framing (RFC 6455), client side: the upgrade request, masked frames, and a frame reader.
Used by the push channel and by the integration tests' WebSocket client."""
import base64
import hashlib
import os
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class ConnectionClosed(ConnectionError):
    """The peer closed the connection (mid-head or mid-frame)."""


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    """The Sec-WebSocket-Accept value a server must answer to `key`."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(path, headers):
    """The HTTP/1.1 upgrade request text; `headers` must hold Host and Sec-WebSocket-Key."""
    lines = [f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_http_head(sock, buffer=b"", limit=65536):
    """Reads up to the blank line; returns (status, headers with lowercased names, rest of the buffer)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionClosed(f"connection closed during the HTTP head: {buffer[:200]!r}")
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


def encode_frame(opcode, payload, *, fin=True, mask=True):
    """One frame; clients must mask (mask=False only to test a server's refusal)."""
    header = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header += bytes([mask_bit | length])
    elif length < 65536:
        header += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        header += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + _xor(payload, key)


def _xor(payload, key):
    # int.from_bytes over whole 4-byte words is much faster than a per-byte loop for large payloads
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


class FrameReader:
    """Reads whole frames from a socket, starting with bytes already buffered after the HTTP head."""

    def __init__(self, sock, buffer=b""):
        self._sock = sock
        self._buffer = buffer

    def _exact(self, count):
        while len(self._buffer) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("WebSocket closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def frame(self):
        """(fin, opcode, payload) of the next frame, unmasked."""
        b0, b1 = self._exact(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exact(8))
        if b1 & 0x80:
            key = self._exact(4)
            payload = _xor(self._exact(length), key)
        else:
            payload = self._exact(length)
        return bool(b0 & 0x80), b0 & 0x0F, payload
