"""Listening on 127.0.0.1 only, keep-alive, /health, and POST /rpc shapes."""
import http.client
import json
import socket
import subprocess

import pytest

from conftest import CODES, check_reply
from schema_check import validate


def _non_loopback_ipv4():
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            address = fields[fields.index("inet") + 1].split("/")[0]
            if not address.startswith("127."):
                return address
    return None


def _listeners(port, table):
    rows = []
    try:
        lines = open(f"/proc/net/{table}").read().splitlines()[1:]
    except FileNotFoundError:
        return rows
    for line in lines:
        fields = line.split()
        address, hex_port = fields[1].rsplit(":", 1)
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
            rows.append(address)
    return rows


def test_listens_on_ipv4_loopback_only(daemon):
    assert _listeners(daemon.port, "tcp") == ["0100007F"], "listening socket must be bound to 127.0.0.1 only"
    assert _listeners(daemon.port, "tcp6") == [], "no IPv6 listener expected"


def test_other_local_address_is_refused(daemon):
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("machine has no non-loopback IPv4 address")
    with pytest.raises(OSError):
        socket.create_connection((address, daemon.port), timeout=5).close()
    assert daemon.health().status == 200


def test_keep_alive_serves_several_requests_on_one_connection(daemon):
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)
    try:
        sockets = set()
        for i in range(5):
            conn.request("POST", "/rpc", body=json.dumps({"jsonrpc": "2.0", "id": i, "method": "server/info"}),
                         headers=daemon.auth_headers())
            response = conn.getresponse()
            reply = json.loads(response.read())
            assert response.status == 200
            check_reply(reply, "server/info")
            assert reply["id"] == i
            assert response.getheader("Connection", "").lower() != "close"
            sockets.add(id(conn.sock))
            assert conn.sock is not None, "server closed the keep-alive connection"
            conn.request("GET", "/health")
            response = conn.getresponse()
            assert response.status == 200
            validate(json.loads(response.read()), "health.schema.json#/$defs/anonymous")
            sockets.add(id(conn.sock))
        assert len(sockets) == 1, "requests did not share one connection"
    finally:
        conn.close()


def test_health_without_token(daemon):
    response = daemon.health()
    assert response.status == 200
    assert response.headers.get("content-type", "").startswith("application/json")
    body = response.json()
    validate(body, "health.schema.json#/$defs/anonymous")
    assert body["status"] == "ok" and body["version"] == daemon.info["version"]


def test_health_with_token_reports_counts(daemon, projects_dir):
    from conftest import make_cargo_pyo3, make_cpp_file
    before = daemon.health(token=True).json()
    validate(before, "health.schema.json#/$defs/authenticated")
    assert before["projects"] == 0
    daemon.rpc("project/open", {"root": str(make_cargo_pyo3(projects_dir)[0])})
    daemon.rpc("project/open", {"root": str(make_cpp_file(projects_dir)[0])})
    with daemon.ws() as ws:
        ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"client": {"name": "pytest", "version": "1", "pid": 1}}})
        reply = ws.recv_json()
        check_reply(reply, "initialize")
        after = daemon.health(token=True).json()
        validate(after, "health.schema.json#/$defs/authenticated")
        assert after["projects"] == 2
        assert after["builds_running"] == 0
        assert after["clients"] >= 1
    assert daemon.rpc("server/info")["projects"] == 2


def test_post_single_request(daemon):
    response = daemon.post_raw(json.dumps({"jsonrpc": "2.0", "id": "one", "method": "project/list"}))
    assert response.status == 200
    assert response.headers.get("content-type", "").startswith("application/json")
    reply = check_reply(response.json(), "project/list")
    assert reply == {"jsonrpc": "2.0", "id": "one", "result": []}


def test_post_batch_gets_an_array_with_one_reply_per_request(daemon):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "server/info"},
        {"jsonrpc": "2.0", "method": "file/saved", "params": {"path": "/nonexistent/x.rs"}},
        {"jsonrpc": "2.0", "id": 2, "method": "project/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "no/such/method"},
        {"jsonrpc": "2.0", "id": "four", "method": "initialize", "params": {"client": {"name": "b", "version": "1", "pid": 2}}},
    ]
    response = daemon.post_raw(json.dumps(batch))
    assert response.status == 200
    replies = response.json()
    assert isinstance(replies, list)
    validate(replies, "jsonrpc.schema.json")
    by_id = {r["id"]: r for r in replies}
    assert len(replies) == 4 and set(by_id) == {1, 2, 3, "four"}
    check_reply(by_id[1], "server/info")
    check_reply(by_id[2], "project/list")
    check_reply(by_id["four"], "initialize")
    assert by_id[3]["error"]["code"] == CODES.method_not_found


@pytest.mark.parametrize("payload", [
    {"jsonrpc": "2.0", "method": "file/saved", "params": {"path": "/nonexistent/x.rs"}},
    [{"jsonrpc": "2.0", "method": "file/saved", "params": {"path": "/nonexistent/a.rs"}},
     {"jsonrpc": "2.0", "method": "no/such/notification"}],
], ids=["single", "batch"])
def test_notification_only_post_gets_204(daemon, payload):
    response = daemon.post_raw(json.dumps(payload))
    assert response.status == 204
    assert response.body == b""
    assert daemon.health().status == 200
