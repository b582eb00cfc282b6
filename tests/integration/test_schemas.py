"""The schemas themselves: valid 2020-12, resolvable refs, examples that validate."""
import json

import pytest
from jsonschema import Draft202012Validator

from conftest import CODES
from schema_check import SCHEMA_DIR, STORE, schema_names, validate

PROTOCOL_METHODS = ["initialize", "server/info", "shutdown", "project/open", "project/close", "project/list",
                    "build/run", "build/log", "generation/list", "spec/resolve", "reload/request", "sync"]
NOTIFICATIONS = ["build/started", "build/progress", "build/finished", "reload/requested", "projects/changed",
                 "project/state"]


@pytest.mark.parametrize("name", schema_names())
def test_schema_is_valid_2020_12_with_examples(name):
    schema = STORE[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    if name == "defs.schema.json":
        for def_name, sub in schema["$defs"].items():
            assert sub.get("examples"), f"$defs/{def_name} has no examples"
            for example in sub["examples"]:
                validate(example, f"{name}#/$defs/{def_name}")
        return
    assert schema.get("examples"), f"{name} has no examples"
    for example in schema["examples"]:
        validate(example, name)


@pytest.mark.parametrize("method", PROTOCOL_METHODS)
def test_every_method_has_params_and_result_schema(method):
    stem = method.replace("/", ".")
    assert (SCHEMA_DIR / "methods" / f"{stem}.params.schema.json").is_file()
    assert (SCHEMA_DIR / "methods" / f"{stem}.result.schema.json").is_file()


@pytest.mark.parametrize("method", NOTIFICATIONS)
def test_every_notification_has_a_schema(method):
    assert (SCHEMA_DIR / "notifications" / f"{method.replace('/', '.')}.schema.json").is_file()


def test_file_saved_notification_params_schema_exists():
    assert (SCHEMA_DIR / "methods" / "file.saved.params.schema.json").is_file()


def test_schemas_reject_what_the_contract_forbids():
    # Closed objects refuse unknown fields, error codes are the documented ones.
    with pytest.raises(AssertionError):
        validate({"id": "x", "root": "/p", "kind": "cargo", "modules": [], "extra": 1}, "methods/project.open.result.schema.json")
    with pytest.raises(AssertionError):
        validate({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "x"}}, "jsonrpc.schema.json")
    with pytest.raises(AssertionError):
        validate({"pid": 1, "port": 1, "token": "abc", "version": "0.1.0", "started_at": "2026-11-24T07:10:36Z"},
                 "server.json.schema.json")
    with pytest.raises(AssertionError):
        validate({"status": "ok", "version": "0.1.0", "uptime_s": 1, "projects": 1, "builds_running": 0, "clients": 0},
                 "health.schema.json#/$defs/anonymous")
    with pytest.raises(AssertionError):
        validate({"id": "a", "root": "/r"}, "methods/project.close.params.schema.json")
    with pytest.raises(AssertionError):
        validate({"jsonrpc": "2.0", "id": 1, "error": {"code": CODES.build_failed, "message": "build failed"}}, "jsonrpc.schema.json")
    assert json.loads(json.dumps(STORE["jsonrpc.schema.json"]))
