"""Validation of real replies against schemas/ (JSON Schema 2020-12).

Debian's python3-jsonschema (4.10) predates the `referencing` package, so the
registry over schemas/ is a RefResolver store keyed by each schema's `$id`.
"""
import json
import pathlib

from jsonschema import Draft202012Validator, RefResolver

SCHEMA_DIR = pathlib.Path(__file__).resolve().parents[2] / "schemas"


def _load_store():
    store = {}
    for path in sorted(SCHEMA_DIR.rglob("*.schema.json")):
        schema = json.loads(path.read_text())
        store[schema["$id"]] = schema
        store[path.relative_to(SCHEMA_DIR).as_posix()] = schema
    return store


STORE = _load_store()


def schema_names():
    return sorted(name for name in STORE if not name.startswith("http"))


def validator(schema_name):
    """schema_name is a path under schemas/, e.g. 'health.schema.json', or
    'health.schema.json#/$defs/authenticated' for a sub-schema."""
    file_name, _, fragment = schema_name.partition("#")
    if file_name not in STORE:
        raise KeyError(f"no schema file schemas/{file_name}")
    root = STORE[file_name]
    schema = {"$ref": root["$id"] + ("#" + fragment if fragment else "")}
    resolver = RefResolver(base_uri=root["$id"], referrer=root, store=STORE)
    return Draft202012Validator(schema, resolver=resolver, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate(instance, schema_name):
    """Raises AssertionError listing every violation of `instance` against the schema."""
    errors = sorted(validator(schema_name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]]
        raise AssertionError(f"reply does not match schemas/{schema_name}:\n" + "\n".join(lines)
                             + f"\ninstance: {json.dumps(instance)[:2000]}")
    return instance


def method_schema(method, kind):
    return f"methods/{method.replace('/', '.')}.{kind}.schema.json"


def notification_schema(method):
    return f"notifications/{method.replace('/', '.')}.schema.json"
