"""Every security bullet: token, Host, Origin, limits, timeouts, connection cap, no client commands."""
import json
import os
import resource
import select
import socket
import time

import pytest

from conftest import CODES, check_reply, make_cargo_pyo3
from schema_check import validate
from wsclient import ConnectionClosed, read_http_head

MIB = 1024 * 1024
LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "project/list"})


def assert_still_serving(daemon):
    assert daemon.health().status == 200
    check_reply(daemon.call("project/list"), "project/list")


# ---------------------------------------------------------------- token

@pytest.mark.parametrize("token", [None, "0" * 64, "Bearer", "x"], ids=["missing", "wrong", "word", "short"])
def test_post_without_the_right_token_gets_401(daemon, token):
    response = daemon.post_raw(LIST, token=token)
    assert response.status == 401


def test_token_needs_the_bearer_scheme(daemon):
    response = daemon.post_raw(LIST, token=None, headers={"Authorization": daemon.token})
    assert response.status == 401
    response = daemon.post_raw(LIST, token=None, headers={"Authorization": f"Basic {daemon.token}"})
    assert response.status == 401


def test_token_prefix_or_extension_is_refused(daemon):
    assert daemon.post_raw(LIST, token=daemon.token[:-1]).status == 401
    assert daemon.post_raw(LIST, token=daemon.token + "0").status == 401
    ok = daemon.post_raw(LIST)
    assert ok.status == 200
    check_reply(ok.json(), "project/list")


# ---------------------------------------------------------------- Host (DNS rebinding)

@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
def test_loopback_host_headers_are_accepted(daemon, host):
    response = daemon.post_raw(LIST, host=host.format(port=daemon.port))
    assert response.status == 200
    check_reply(response.json(), "project/list")
    assert daemon.health(host=host.format(port=daemon.port)).status == 200


@pytest.mark.parametrize("host", ["evil.com:{port}", "127.0.0.1:1", "localhost:1", "127.0.0.1", "evil.com",
                                  "127.0.0.1.evil.com:{port}", "127.0.0.2:{port}"])
def test_foreign_host_header_gets_403(daemon, host):
    host = host.format(port=daemon.port)
    assert daemon.post_raw(LIST, host=host).status == 403
    assert daemon.health(host=host).status == 403


def test_host_is_checked_before_the_token(daemon):
    assert daemon.post_raw(LIST, token=None, host=f"evil.com:{daemon.port}").status == 403


# ---------------------------------------------------------------- Origin (web pages)

@pytest.mark.parametrize("origin", ["http://evil.com", "http://127.0.0.1:1", "https://127.0.0.1:{port}", "null",
                                    "http://localhost.evil.com:{port}"])
def test_foreign_origin_gets_403(daemon, origin):
    origin = origin.format(port=daemon.port)
    assert daemon.post_raw(LIST, headers={"Origin": origin}).status == 403
    assert daemon.post_raw(LIST, token=None, headers={"Origin": origin}).status == 403


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}"])
def test_same_origin_is_accepted(daemon, origin):
    response = daemon.post_raw(LIST, headers={"Origin": origin.format(port=daemon.port)})
    assert response.status == 200
    check_reply(response.json(), "project/list")


def test_browser_like_form_post_without_token_is_refused(daemon):
    """A page on another site can send a simple text/plain POST; Origin alone stops it."""
    response = daemon.post_raw(LIST, token=None, headers={"Origin": "http://evil.com", "Content-Type": "text/plain"})
    assert response.status == 403


# ---------------------------------------------------------------- size limits

def _raw_exchange(port, head, body=b"", chunk=256 * 1024, guard=30):
    """Sends head then body; stops sending if the server answers early. Returns (status, headers)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=guard)
    try:
        sock.sendall(head)
        sent = 0
        while sent < len(body):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(body[sent:sent + chunk])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        status, headers, _ = read_http_head(sock)
        return status, headers
    finally:
        sock.close()


def test_body_over_8_mib_gets_413(daemon):
    body = b" " * (9 * MIB)
    head = (f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\nAuthorization: Bearer {daemon.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    status, _ = _raw_exchange(daemon.port, head, body)
    assert status == 413
    assert_still_serving(daemon)


def test_chunked_body_over_8_mib_gets_413(daemon):
    piece = b" " * (64 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    body = chunk * (9 * MIB // len(piece)) + b"0\r\n\r\n"
    head = (f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\nAuthorization: Bearer {daemon.token}\r\n"
            f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    status, _ = _raw_exchange(daemon.port, head, body)
    assert status == 413
    assert_still_serving(daemon)


def test_body_just_under_8_mib_is_served(daemon):
    request = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "project/list"}).encode()
    body = request + b" " * (8 * MIB - len(request) - 1024)
    response = daemon.post_raw(body)
    assert response.status == 200
    assert check_reply(response.json(), "project/list")["id"] == 5


def test_huge_headers_get_431_or_400(daemon):
    head = (f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\nAuthorization: Bearer {daemon.token}\r\n"
            f"X-Padding: {'a' * (64 * 1024)}\r\nContent-Length: {len(LIST)}\r\n\r\n").encode() + LIST.encode()
    status, _ = _raw_exchange(daemon.port, head)
    assert status in (431, 400)
    many = "".join(f"X-H{i}: {'b' * 100}\r\n" for i in range(400))
    head = (f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n{many}\r\n").encode()
    status, _ = _raw_exchange(daemon.port, head)
    assert status in (431, 400)
    assert_still_serving(daemon)


# ---------------------------------------------------------------- nesting depth

def _nested_request(depth):
    """A request whose whole JSON text nests exactly `depth` levels (the envelope is level 1)."""
    params = "[" * (depth - 1) + "]" * (depth - 1)
    return '{"jsonrpc": "2.0", "id": 9, "method": "no/such/method", "params": ' + params + "}"


def test_nesting_64_is_parsed_65_is_refused(daemon):
    response = daemon.post_raw(_nested_request(64))
    assert response.status == 200
    reply = check_reply(response.json())
    assert reply["error"]["code"] == CODES.method_not_found, "64 levels must be parsed (the method is then unknown)"
    response = daemon.post_raw(_nested_request(65))
    assert response.status == 200
    reply = check_reply(response.json())
    assert reply["error"]["code"] == CODES.invalid_request
    assert "deep" in reply["error"]["message"].lower() or "nest" in reply["error"]["message"].lower()


@pytest.mark.parametrize("opener", ["[", '{"a":'], ids=["arrays", "objects"])
def test_million_deep_body_is_refused_and_daemon_survives(daemon, opener):
    body = opener * 1_000_000
    response = daemon.post_raw(body)
    assert response.status == 200
    reply = check_reply(response.json())
    assert reply["error"]["code"] in (CODES.invalid_request, CODES.parse_error)
    assert daemon.running()
    assert_still_serving(daemon)


def test_deep_nesting_over_websocket_is_refused(daemon):
    with daemon.ws() as ws:
        ws.send_text(_nested_request(65))
        reply = check_reply(ws.recv_json())
        assert reply["error"]["code"] == CODES.invalid_request
        ws.send_text("[" * 200_000)
        reply = check_reply(ws.recv_json())
        assert reply["error"]["code"] in (CODES.invalid_request, CODES.parse_error)
    assert_still_serving(daemon)


# ---------------------------------------------------------------- read timeouts (slowloris)

def _closed_by_peer(sock):
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, socket.timeout):
        return True
    if not data:
        return True
    while data:  # e.g. a 408 reply: keep reading until the close
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return True
    return True


def test_slow_requests_are_closed_while_others_are_served(daemon):
    port = daemon.port
    partial_head = socket.create_connection(("127.0.0.1", port))
    partial_head.sendall(f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    partial_body = socket.create_connection(("127.0.0.1", port))
    partial_body.sendall((f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {daemon.token}\r\n"
                          f"Content-Length: {len(LIST)}\r\n\r\n").encode() + LIST[:10].encode())
    drip = socket.create_connection(("127.0.0.1", port))
    drip_bytes = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: " .encode() + b"z" * 1000
    open_socks = {"partial headers": partial_head, "partial body": partial_body, "drip": drip}
    served_meanwhile = 0
    deadline = time.monotonic() + 60  # failure guard; the documented limit is 10 s
    position = 0
    try:
        while open_socks and time.monotonic() < deadline:
            if "drip" in open_socks and position < len(drip_bytes):
                try:
                    drip.sendall(drip_bytes[position:position + 1])
                    position += 1
                except (BrokenPipeError, ConnectionResetError):
                    pass
            readable, _, _ = select.select(list(open_socks.values()), [], [], 1.0)
            for sock in readable:
                sock.settimeout(5)
                if _closed_by_peer(sock):
                    name = next(k for k, v in open_socks.items() if v is sock)
                    del open_socks[name]
            assert_still_serving(daemon)
            served_meanwhile += 1
        assert not open_socks, f"daemon kept slow connections open: {sorted(open_socks)}"
        assert served_meanwhile > 0
    finally:
        for sock in (partial_head, partial_body, drip):
            sock.close()


# ---------------------------------------------------------------- connection cap

CAP = 512


def _get_health_status(sock, port):
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    status, headers, rest = read_http_head(sock)
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status


def test_connections_beyond_the_cap_are_refused_with_503(daemon):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CAP + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    daemon.close_connection()
    held = []
    try:
        for _ in range(CAP):
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
            held.append(sock)
            assert _get_health_status(sock, daemon.port) == 200, f"connection {len(held)} of {CAP} was not served"
        outcomes = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
            held.append(sock)
            try:
                outcomes.append(_get_health_status(sock, daemon.port))
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
                outcomes.append("closed")
        assert all(o in (503, "closed") for o in outcomes), f"past the cap: {outcomes}"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30  # guard: the daemon notices the closes asynchronously
    while True:
        try:
            if daemon.health().status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "daemon did not recover after the connections closed"
        time.sleep(0.2)
    assert_still_serving(daemon)


# ---------------------------------------------------------------- no client-supplied commands

@pytest.mark.parametrize("method", ["exec", "shell", "system", "run", "command/run", "process/spawn", "build/command",
                                    "rpc.discover", "$(touch /tmp/x)"])
def test_unknown_methods_are_not_found(daemon, method):
    error = daemon.rpc_error(method, {"command": "touch /tmp/should-not-exist", "args": ["-c", "id"]})
    assert error["code"] == CODES.method_not_found


def test_project_roots_are_never_run_as_commands(daemon, tmp_path, projects_dir):
    marker = tmp_path / "pwned"
    roots = [f"$(touch {marker})", f"`touch {marker}`", f"/tmp; touch {marker}", f"| touch {marker}",
             f"{projects_dir}/$(touch {marker})"]
    for root in roots:
        error = daemon.rpc_error("project/open", {"root": root})
        assert error["code"] == CODES.invalid_params, root
    cargo_root, _ = make_cargo_pyo3(projects_dir)
    try:
        daemon.rpc("project/open", {"root": str(cargo_root), "python": f"/bin/sh -c 'touch {marker}'"})
    except Exception as error:  # refusing the interpreter is fine; running it is not
        assert getattr(error, "code", None) == CODES.invalid_params, error
    assert daemon.rpc_error("project/close", {"root": f"$(touch {marker})"})["code"] == CODES.invalid_params
    saved = daemon.post_raw(json.dumps({"jsonrpc": "2.0", "method": "file/saved", "params": {"path": f"$(touch {marker})"}}))
    assert saved.status == 204
    time.sleep(0.5)  # let any (wrongly) spawned process run before looking
    assert not marker.exists(), "a client-supplied string was executed"
    assert not os.path.exists(f"{projects_dir}/$(touch {marker})")
