#!/usr/bin/env python3
"""Writes the fuzz seed corpora from schemas/**/*.json `examples` arrays and tests/fixtures.

usage: make_seeds.py OUT_DIR   -> OUT_DIR/{rpc_dispatch,http_rpc,detect}/seed-N
"""
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "0123456789abcdef0123456789abcdef"   # the token fuzz_http_rpc.cpp accepts
PORT = 4242
SEPARATOR = b"\n#====\n"


def schema_examples():
    """(schema path relative to schemas/, example) for every `examples` entry, nested ones included."""
    def walk(node):
        if isinstance(node, dict):
            for example in node.get("examples", []) if isinstance(node.get("examples"), list) else []:
                yield example
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
    for path in sorted((REPO / "schemas").rglob("*.json")):
        for example in walk(json.loads(path.read_text())):
            yield path.relative_to(REPO / "schemas").as_posix(), example


def rpc_bodies():
    bodies = []
    for name, example in schema_examples():
        stem = pathlib.PurePosixPath(name).name
        if name.startswith("methods/") and stem.endswith(".params.schema.json"):
            method = stem[: -len(".params.schema.json")].replace(".", "/")
            bodies.append({"jsonrpc": "2.0", "id": len(bodies) + 1, "method": method, "params": example})
        elif name.startswith("notifications/"):
            method = stem[: -len(".schema.json")].replace(".", "/")
            params = example.get("params", example) if isinstance(example, dict) else example
            bodies.append({"jsonrpc": "2.0", "method": method, "params": params})
        elif name == "jsonrpc.schema.json":
            bodies.append(example)
    texts = [json.dumps(b).encode() for b in bodies]
    texts.append(json.dumps(bodies[:3]).encode())          # a batch
    texts += [b"[]", b"{}", b'{"jsonrpc":"2.0","id":1,"method":"server/info"}', b"[1,2", b'"\\ud800"']
    return texts


def http_requests(bodies):
    requests = []
    for i, body in enumerate(bodies):
        head = (f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
        if i % 3 == 1:
            head += f"Origin: http://127.0.0.1:{PORT}\r\n"
        requests.append(head.encode() + b"\r\n" + body)
    chunked = bodies[0]
    requests.append((f"POST /rpc HTTP/1.1\r\nHost: localhost:{PORT}\r\nAuthorization: Bearer {TOKEN}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n").encode()
                    + f"{len(chunked):x}\r\n".encode() + chunked + b"\r\n0\r\n\r\n")
    requests.append(f"GET /health HTTP/1.1\r\nHost: [::1]:{PORT}\r\n\r\n".encode())
    requests.append(f"GET /rpc HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    return requests


def detect_inputs():
    fixtures = REPO / "tests" / "fixtures"
    inputs = []
    for project in sorted(p for p in fixtures.iterdir() if p.is_dir()):
        names = ["Cargo.toml", "pyproject.toml", "CMakeLists.txt"]
        texts = [(project / n).read_bytes() if (project / n).is_file() else b"" for n in names]
        flags = sum(1 << i for i, n in enumerate(names) if (project / n).is_file())
        for package_bit in (0, 8, 16, 32):
            inputs.append(bytes([flags | package_bit]) + SEPARATOR.join(texts))
    cargo = b'[package]\nname = "pkg"\nversion = "0.1.0"\n[lib]\ncrate-type = ["cdylib"]\n[dependencies]\npyo3 = "0.17"\n'
    maturin = b'[build-system]\nbuild-backend = "maturin"\n[project]\nname = "pkg"\n[tool.maturin]\nmodule-name = "pkg._native"\npython-source = "python"\n'
    cmake = b"cmake_minimum_required(VERSION 3.15)\nproject(pkg)\nfind_package(pybind11 CONFIG REQUIRED)\npybind11_add_module(_core src/main.cpp)\n"
    skbuild = b'[build-system]\nbuild-backend = "scikit_build_core.build"\n[project]\nname = "pkg"\n'
    inputs += [bytes([1]) + cargo, bytes([3 | 16]) + cargo + SEPARATOR + maturin,
               bytes([4]) + SEPARATOR + SEPARATOR + cmake, bytes([6 | 8]) + SEPARATOR + skbuild + SEPARATOR + cmake]
    return inputs


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    bodies = rpc_bodies()
    corpora = {"rpc_dispatch": bodies, "http_rpc": http_requests(bodies), "detect": detect_inputs()}
    for name, items in corpora.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, item in enumerate(items):
            (folder / f"seed-{i:03d}").write_bytes(item)
        print(f"{name}: {len(items)} seeds in {folder}")


if __name__ == "__main__":
    main()
