"""schemas/error-codes.json is the one table of JSON-RPC error codes; every copy of it agrees.

The C++ header is generated at build time (tests/cpp/rpc/error_codes_test.cpp checks it), the
TypeScript module by the extension's compile script (vscode-ext unit test); the Python client's
module is checked in, so this test regenerates it and compares."""
import json
import re
import subprocess

from conftest import CODES, PYTHON, REPO, load_error_codes
from schema_check import STORE, validate

TABLE = json.loads((REPO / "schemas" / "error-codes.json").read_text())


def test_the_table_matches_its_schema_with_unique_names_and_codes():
    validate(TABLE, "error-codes.schema.json")
    assert len({e["name"] for e in TABLE}) == len(TABLE)
    assert len({e["code"] for e in TABLE}) == len(TABLE)
    assert CODES.build_failed == load_error_codes()["build_failed"]


def test_the_checked_in_python_module_is_what_the_generator_writes():
    generated = subprocess.run([PYTHON, str(REPO / "schemas" / "gen_error_codes.py"), "--stdout"],
                               capture_output=True, text=True, timeout=60, check=True).stdout
    checked_in = (REPO / "pyclient" / "prestage" / "_error_codes.py").read_text()
    assert checked_in == generated, "pyclient/prestage/_error_codes.py is stale: run python3 schemas/gen_error_codes.py"
    namespace = {}
    exec(compile(checked_in, "_error_codes.py", "exec"), namespace)  # noqa: S102  (our own generated file)
    assert namespace["CODES"] == {e["name"]: e["code"] for e in TABLE}
    assert all(namespace[e["name"].upper()] == e["code"] for e in TABLE)


def test_the_jsonrpc_schema_allows_exactly_the_table_codes():
    assert STORE["jsonrpc.schema.json"]["$defs"]["errorCode"]["enum"] == [e["code"] for e in TABLE]


def test_the_protocol_doc_errors_table_mirrors_the_table():
    text = (REPO / "docs" / "protocol.md").read_text()
    section = text[text.index("## Errors"):text.index("## Methods")]
    rows = re.findall(r"^\| (-?\d+) \| `([a-z0-9_]+)` \| (.+) \|$", section, re.M)
    assert [(int(code), name, meaning) for code, name, meaning in rows] == [
        (e["code"], e["name"], e["description"]) for e in TABLE]
