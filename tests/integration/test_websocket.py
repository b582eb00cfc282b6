"""JSON-RPC over the WebSocket upgrade on /rpc, and server -> client pushes."""
import pytest

from conftest import CODES, check_reply, make_cargo_pyo3
from schema_check import notification_schema, validate
from wsclient import HandshakeRefused

NOTIFICATION_GUARD_S = 20


def ws_call(ws, method, params=None, request_id=1):
    """Sends a request; returns its validated reply, validating any notification seen on the way."""
    request = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        request["params"] = params
    ws.send_json(request)
    while True:
        message = ws.recv_json()
        if isinstance(message, dict) and "method" in message and "id" not in message:
            validate(message, notification_schema(message["method"]))
            continue
        check_reply(message, method)
        assert message["id"] == request_id
        return message


def wait_notification(ws, method):
    while True:
        message = ws.recv_json(timeout=NOTIFICATION_GUARD_S)
        if isinstance(message, dict) and message.get("method") == method and "id" not in message:
            return validate(message, notification_schema(method))


def test_upgrade_with_token_carries_json_rpc(daemon):
    with daemon.ws() as ws:
        reply = ws_call(ws, "initialize", {"client": {"name": "pytest", "version": "1.0", "pid": 4242}})
        assert reply["result"]["server"]["version"] == daemon.info["version"]
        reply = ws_call(ws, "server/info", request_id="s")
        assert reply["result"]["pid"] == daemon.pid
        reply = ws_call(ws, "no/such/method", request_id=3)
        assert reply["error"]["code"] == CODES.method_not_found


def test_batch_and_notification_over_websocket(daemon):
    with daemon.ws() as ws:
        # A notification gets no reply: the next message is the request's reply.
        ws.send_json({"jsonrpc": "2.0", "method": "file/saved", "params": {"path": "/nonexistent/y.rs"}})
        reply = ws_call(ws, "project/list", request_id=7)
        assert reply["result"] == []
        ws.send_json([{"jsonrpc": "2.0", "id": 1, "method": "project/list"},
                      {"jsonrpc": "2.0", "id": 2, "method": "server/info"}])
        replies = ws.recv_json()
        validate(replies, "jsonrpc.schema.json")
        assert isinstance(replies, list) and sorted(r["id"] for r in replies) == [1, 2]


def test_parse_error_over_websocket_keeps_the_session(daemon):
    with daemon.ws() as ws:
        ws.send_text('{"jsonrpc": "2.0", "id": 1, "method": ')
        reply = ws.recv_json()
        check_reply(reply)
        assert reply["error"]["code"] == CODES.parse_error and reply["id"] is None
        assert ws_call(ws, "project/list", request_id=2)["result"] == []


@pytest.mark.parametrize("token", [None, "0" * 64, "not-the-token"], ids=["missing", "wrong-hex", "wrong-text"])
def test_upgrade_without_the_right_token_gets_401(daemon, token):
    with pytest.raises(HandshakeRefused) as refused:
        daemon.ws(token=token)
    assert refused.value.status == 401


def test_upgrade_with_bad_host_or_origin_gets_403(daemon):
    with pytest.raises(HandshakeRefused) as refused:
        daemon.ws(host_header=f"evil.com:{daemon.port}")
    assert refused.value.status == 403
    with pytest.raises(HandshakeRefused) as refused:
        daemon.ws(origin="http://evil.com")
    assert refused.value.status == 403
    with daemon.ws(origin=f"http://127.0.0.1:{daemon.port}") as ws:
        assert ws_call(ws, "project/list")["result"] == []


def test_projects_changed_is_pushed_after_open_and_close_elsewhere(daemon, projects_dir):
    root, _ = make_cargo_pyo3(projects_dir)
    with daemon.ws() as ws:
        ws_call(ws, "initialize", {"client": {"name": "watcher", "version": "1", "pid": 1}})
        opened = daemon.rpc("project/open", {"root": str(root)})  # on the HTTP connection
        message = wait_notification(ws, "projects/changed")
        assert message["params"] == {}
        daemon.rpc("project/close", {"id": opened["id"]})
        wait_notification(ws, "projects/changed")


def test_every_websocket_client_gets_the_push(daemon, projects_dir):
    root, _ = make_cargo_pyo3(projects_dir)
    with daemon.ws() as first, daemon.ws() as second:
        ws_call(first, "project/list")
        ws_call(second, "project/list")
        daemon.rpc("project/open", {"root": str(root)})
        wait_notification(first, "projects/changed")
        wait_notification(second, "projects/changed")
