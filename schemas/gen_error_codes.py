#!/usr/bin/env python3
"""Writes pyclient/prestage/_error_codes.py from schemas/error-codes.json.

The Python client runs from source (no build step), so its module is checked in; run this after
editing the table. `--stdout` prints the module instead of writing it
(tests/integration/test_error_codes.py compares that with the checked-in file)."""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
TABLE = HERE / "error-codes.json"
TARGET = HERE.parent / "pyclient" / "prestage" / "_error_codes.py"


def render(entries):
    lines = [
        '"""JSON-RPC error codes of prestaged.',
        "",
        "GENERATED from schemas/error-codes.json by schemas/gen_error_codes.py: do not edit; rerun",
        '`python3 schemas/gen_error_codes.py` after changing the table."""',
        "",
    ]
    for entry in entries:
        lines.append(f"# {entry['description']}")
        lines.append(f"{entry['name'].upper()} = {entry['code']}")
    lines.append("")
    lines.append("# name -> code, in the table's order")
    lines.append("CODES = {")
    lines.extend(f"    {entry['name']!r}: {entry['code']}," for entry in entries)
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


def main(argv):
    text = render(json.loads(TABLE.read_text()))
    if "--stdout" in argv:
        sys.stdout.write(text)
    else:
        TARGET.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
