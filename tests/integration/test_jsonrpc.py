"""JSON-RPC 2.0 error codes and reply rules."""
import json

import pytest

from conftest import CODES, check_reply


def post(daemon, text):
    response = daemon.post_raw(text)
    assert response.status == 200, response
    return check_reply(response.json())


@pytest.mark.parametrize("text", ['{"jsonrpc": "2.0", "id": 1, "method": ', "not json", '{"a": 1,}', "\xff\xfe", ""],
                         ids=["truncated", "word", "trailing-comma", "bad-utf8", "empty"])
def test_parse_error(daemon, text):
    reply = post(daemon, text.encode("latin-1") if text == "\xff\xfe" else text)
    assert reply["error"]["code"] == CODES.parse_error
    assert reply["id"] is None


@pytest.mark.parametrize("request_value", [
    1, "string", None, True,
    {"id": 1, "method": "project/list"},
    {"jsonrpc": "1.0", "id": 1, "method": "project/list"},
    {"jsonrpc": 2.0, "id": 1, "method": "project/list"},
    {"jsonrpc": "2.0", "id": 1},
    {"jsonrpc": "2.0", "id": 1, "method": 5},
    {"jsonrpc": "2.0", "id": {"nested": 1}, "method": "project/list"},
], ids=["number", "string", "null", "bool", "no-jsonrpc", "jsonrpc-1.0", "jsonrpc-number", "no-method",
        "method-number", "id-object"])
def test_invalid_request(daemon, request_value):
    reply = post(daemon, json.dumps(request_value))
    assert isinstance(reply, dict)
    assert reply["error"]["code"] == CODES.invalid_request


def test_empty_batch_is_one_invalid_request_error(daemon):
    reply = post(daemon, "[]")
    assert isinstance(reply, dict), "an empty batch gets a single reply, not an array"
    assert reply["error"]["code"] == CODES.invalid_request and reply["id"] is None


def test_batch_of_invalid_entries_gets_one_error_each(daemon):
    replies = post(daemon, "[1, 2, 3]")
    assert isinstance(replies, list) and len(replies) == 3
    assert all(r["error"]["code"] == CODES.invalid_request and r["id"] is None for r in replies)


def test_method_not_found_names_the_method(daemon):
    error = daemon.rpc_error("project/frobnicate")
    assert error["code"] == CODES.method_not_found
    assert "project/frobnicate" in error["message"]


@pytest.mark.parametrize("request_id", [0, 17, -3, "abc", ""], ids=repr)
def test_reply_echoes_the_request_id(daemon, request_id):
    reply = daemon.call("project/list", request_id=request_id)
    assert reply["id"] == request_id and reply["result"] == []


@pytest.mark.parametrize("method,params,field", [
    ("initialize", {}, "client"),
    ("initialize", {"client": "me"}, "client"),
    ("initialize", {"client": {"version": "1", "pid": 1}}, "name"),
    ("initialize", {"client": {"name": 7, "version": "1", "pid": 1}}, "name"),
    ("initialize", {"client": {"name": "x", "version": "1", "pid": "one"}}, "pid"),
    ("project/open", {}, "root"),
    ("project/open", {"root": 42}, "root"),
    ("project/open", {"root": ""}, "root"),
    ("project/open", {"root": "/tmp", "python": 3}, "python"),
    ("project/close", {}, "id"),
    ("project/close", {"id": 5}, "id"),
    ("project/close", {"id": "no-such-project"}, "id"),
    ("project/close", {"root": "/no/such/project/anywhere"}, "root"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v))
def test_invalid_params_names_the_field(daemon, method, params, field):
    error = daemon.rpc_error(method, params)
    assert error["code"] == CODES.invalid_params
    assert field in error["message"], f"message {error['message']!r} does not name {field!r}"


def test_params_of_the_wrong_structure_are_refused(daemon):
    error = daemon.rpc_error("project/open", ["/tmp"])
    assert error["code"] in (CODES.invalid_params, CODES.invalid_request)


def test_every_request_in_a_batch_gets_exactly_one_reply(daemon):
    batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate([
        ("project/list", {}), ("project/open", {}), ("no/such", {}), ("server/info", {}),
        ("project/close", {"id": "nope"}), ("initialize", {"client": {"name": "n", "version": "1", "pid": 1}}),
    ])]
    batch.insert(2, {"jsonrpc": "2.0", "method": "file/saved", "params": {"path": "/nonexistent"}})
    batch.append({"jsonrpc": "2.0"})  # invalid: answered with id null
    replies = post(daemon, json.dumps(batch))
    assert isinstance(replies, list)
    ids = sorted((r["id"] for r in replies if r["id"] is not None))
    assert ids == [0, 1, 2, 3, 4, 5]
    assert sum(1 for r in replies if r["id"] is None) == 1
    by_id = {r["id"]: r for r in replies}
    assert by_id[1]["error"]["code"] == CODES.invalid_params
    assert by_id[2]["error"]["code"] == CODES.method_not_found
    check_reply(by_id[0], "project/list")
    check_reply(by_id[3], "server/info")
    check_reply(by_id[5], "initialize")


def test_initialize_returns_server_identity_and_client_id(daemon):
    first = daemon.rpc("initialize", {"client": {"name": "pytest", "version": "1.0", "pid": 123}})
    second = daemon.rpc("initialize", {"client": {"name": "pytest", "version": "1.0", "pid": 124}})
    assert first["server"]["version"] == daemon.info["version"]
    assert first["server"]["name"]
    assert first["client_id"] != second["client_id"]


def test_server_info_reports_this_process(daemon):
    info = daemon.rpc("server/info")
    assert info["pid"] == daemon.pid and info["port"] == daemon.port
    assert info["version"] == daemon.info["version"]
    assert info["projects"] == 0 and info["builds_running"] == 0
