"""HTTP/1.1 POSTs to the daemon on one keep-alive loopback connection.

Deliberately small: every reload makes one round trip (read-your-writes), so the request is a
prebuilt prefix plus the body, and the reply is read with one recv in the common case. The daemon
always answers with Content-Length (never chunked)."""
import socket

_HEAD_END = b"\r\n\r\n"


class StaleConnection(ConnectionError):
    """A reused keep-alive connection was already closed by the daemon: nothing was processed."""


class HttpConnection:
    """One connection to 127.0.0.1:`port`. Not thread-safe: the client gives each call its own."""

    def __init__(self, port, token):
        self.port = port
        self._prefix = (
            f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode("latin-1")
        self._sock = None
        self._timeout = None
        self._buffer = b""

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = b""

    def post(self, body, timeout):
        """Sends `body` (bytes) to /rpc; returns (status, payload bytes). Raises OSError (socket.timeout
        on a timeout, StaleConnection when a reused connection turns out closed before any reply)."""
        reused = self._sock is not None
        if not reused:
            self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._timeout = timeout
        elif self._timeout != timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout
        try:
            self._sock.sendall(b"%s%d\r\n\r\n%s" % (self._prefix, len(body), body))
            status, close, payload = self._read_reply(reused)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, payload

    def _recv(self):
        return self._sock.recv(65536)

    def _read_reply(self, reused):
        buffer = self._buffer
        while _HEAD_END not in buffer:
            try:
                chunk = self._recv()
            except (ConnectionResetError, BrokenPipeError) as error:
                if reused and not buffer:
                    raise StaleConnection(str(error)) from error
                raise
            if not chunk:
                if reused and not buffer:
                    raise StaleConnection("the daemon closed the idle connection")
                raise ConnectionError("the daemon closed the connection mid-reply")
            buffer += chunk
        head, _, rest = buffer.partition(_HEAD_END)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(None, 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        while len(rest) < length:
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("the daemon closed the connection mid-reply")
            rest += chunk
        self._buffer = rest[length:]
        return status, close, rest[:length]
