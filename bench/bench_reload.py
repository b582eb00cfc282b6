"""Items 1-2 in isolation: reload after a save vs a bare import, against a real prestaged and real builds.

Usage: /usr/bin/python3 bench/bench_reload.py [--fixture cmake_pkg|pyo3_pure] [--rounds N]
                                              [--client LABEL=PYCLIENT_DIR ...] [--gap S] [--json FILE]

One daemon (PRESTAGE_SERVER, else build/server/app/prestaged) opens a copy of the fixture. One
long-lived /usr/bin/python3 per --client (default: this tree's pyclient) installs the finder and
imports the package. Each round saves (value 10 <-> 20), waits until the daemon is idle with the new
build, then asks every client in turn (the order alternates between rounds) to sleep --gap s and time
one changed `importlib.reload(pkg)`, then five unchanged ones. Two bare baselines, each in a fresh
process that sleeps the same gap before its timed import:
  - so:      the staged extension .so copied to a fresh directory (the issue's figure);
  - package: the whole staged package (its __init__.py included, no __pycache__) copied to a fresh
             directory and imported from there. The process compiles a one-line string first: the
             first compile() in a process sets up the compiler (~0.6 ms), which a reloading process
             has long done.
Both are also timed without the gap ("hot"), to show what the idle gap alone costs.
For pybind11 fixtures libstdc++ is preloaded in the bare processes, as it is in the reloading one.
Every process runs with PYTHONDONTWRITEBYTECODE=1, so no side writes .pyc files."""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import GUARD_S, PYTHON, REPO, TOGGLES, Daemon, copy_fixture, log, median, write_cargo_config  # noqa: E402

EXTENSION_MODULE = {"cmake_pkg": "cmake_pkg._core", "pyo3_pure": "pyo3_pure.pyo3_pure"}
UNCHANGED_PER_ROUND = 5

CLIENT_SCRIPT = r"""
import importlib, json, sys, time
import prestage
NAME, GAP = sys.argv[1], float(sys.argv[2])
finder = prestage.install()
module = importlib.import_module(NAME)
print(json.dumps({"ready": module.__file__}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] != "reload":
        break
    time.sleep(GAP)
    began = time.perf_counter()
    importlib.reload(module)
    changed = (time.perf_counter() - began) * 1e3
    value = module.get_num()
    unchanged = []
    for _ in range(command["unchanged"]):
        began = time.perf_counter()
        importlib.reload(module)
        unchanged.append((time.perf_counter() - began) * 1e3)
    specs = getattr(finder, "specs", None)
    print(json.dumps({"changed_ms": changed, "unchanged_ms": unchanged, "value": value,
                      "spec_cache": None if specs is None else {"hits": specs.hits, "misses": specs.misses}}), flush=True)
"""

BARE_SO_SCRIPT = r"""
import ctypes, importlib.util, json, sys, time
name, path, expected, preload, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", float(sys.argv[5])
if preload:
    ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
time.sleep(gap)
began = time.perf_counter()
spec = importlib.util.spec_from_file_location(name, path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = (time.perf_counter() - began) * 1e3
assert module.get_num() == expected, (module.get_num(), expected)
print(json.dumps(elapsed))
"""

BARE_PACKAGE_SCRIPT = r"""
import ctypes, importlib, json, sys, time
name, entry, expected, preload, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", float(sys.argv[5])
if preload:
    ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
sys.path.insert(0, entry)
compile("pass", "<warm-up>", "exec")  # set up the compiler, as in any long-running process
time.sleep(gap)
began = time.perf_counter()
module = importlib.import_module(name)
elapsed = (time.perf_counter() - began) * 1e3
assert module.get_num() == expected and module.__file__.startswith(entry), (module.get_num(), module.__file__)
print(json.dumps(elapsed))
"""


def quiet_env(env):
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


def bare_import(script, name, target, expected, preload, gap, env):
    completed = subprocess.run([PYTHON, "-c", script, name, str(target), str(expected), "1" if preload else "0", str(gap)],
                               capture_output=True, text=True, timeout=GUARD_S, env=quiet_env(env))
    if completed.returncode != 0:
        raise RuntimeError(f"bare import of {target} failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout)


def fresh_copies(resolved, extension_module, name, directory):
    """(fresh .so path, fresh sys.path entry holding the whole package) for one staged generation."""
    artifact = next(a for a in resolved["artifacts"] if a["module"] == extension_module)
    so_dir = directory / "so"
    so_dir.mkdir(parents=True)
    so = shutil.copyfile(artifact["path"], so_dir / Path(artifact["path"]).name)
    entry = directory / "package"
    shutil.copytree(Path(resolved["path_entry"]) / name, entry / name, ignore=shutil.ignore_patterns("__pycache__"))
    return so, entry


class ClientProcess:
    """A long-lived reloading interpreter using one pyclient tree."""

    def __init__(self, label, pyclient, name, gap, env):
        self.label = label
        full_env = quiet_env({**env, "PYTHONPATH": str(pyclient)})
        self.process = subprocess.Popen([PYTHON, "-c", CLIENT_SCRIPT, name, str(gap)], env=full_env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.results = []
        ready = self._read()
        log(f"client {label}: imported {ready['ready']}")

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"client {self.label} exited: {self.process.stderr.read()[-3000:]}")
        return json.loads(line)

    def reload(self, expected):
        self.process.stdin.write(json.dumps({"op": "reload", "unchanged": UNCHANGED_PER_ROUND}) + "\n")
        self.process.stdin.flush()
        result = self._read()
        if result["value"] != expected:
            raise RuntimeError(f"client {self.label}: reload gave {result['value']}, expected {expected}")
        self.results.append(result)
        return result

    def close(self):
        try:
            self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def wait_new_build(daemon, project_id, before):
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        project = next(p for p in daemon.projects() if p["id"] == project_id)
        if project["state"] == "idle" and project["last_build"] != before:
            if not project["last_build"]["ok"]:
                raise RuntimeError(f"build failed: {project['last_build']['log_tail']}")
            return project
        time.sleep(0.02)
    raise RuntimeError(f"no new build of {project_id} within {GUARD_S} s")


def measure(root, name, rounds, clients, gap):
    write_cargo_config(root)
    daemon = Daemon(root / "daemon")
    processes = []
    try:
        relative, first, second = TOGGLES[name]
        copy = copy_fixture(name, root / "ws" / name)
        project = daemon.open(copy)
        daemon.wait_idle(project["id"])
        processes = [ClientProcess(label, path, name, gap, daemon.env) for label, path in clients]
        preload = name == "cmake_pkg"
        bare = {"so": [], "package": [], "so_hot": [], "package_hot": []}
        source = copy / relative
        for index in range(rounds):
            before = next(p for p in daemon.projects() if p["id"] == project["id"])["last_build"]
            text = source.read_text()
            old, new = (first, second) if first in text else (second, first)
            source.write_text(text.replace(old, new, 1))
            expected = 20 if new == second else 10
            wait_new_build(daemon, project["id"], before)
            order = processes if index % 2 == 0 else processes[::-1]
            for process in order:
                process.reload(expected)
            resolved = daemon.call("spec/resolve", {"name": name, "python": PYTHON})
            so, entry = fresh_copies(resolved, EXTENSION_MODULE[name], name, root / "copies" / f"round-{index}")
            bare["so"].append(bare_import(BARE_SO_SCRIPT, EXTENSION_MODULE[name], so, expected, preload, gap, daemon.env))
            bare["package"].append(bare_import(BARE_PACKAGE_SCRIPT, name, entry, expected, preload, gap, daemon.env))
            hot_so, hot_entry = fresh_copies(resolved, EXTENSION_MODULE[name], name, root / "copies" / f"round-{index}-hot")
            bare["so_hot"].append(bare_import(BARE_SO_SCRIPT, EXTENSION_MODULE[name], hot_so, expected, preload, 0, daemon.env))
            bare["package_hot"].append(bare_import(BARE_PACKAGE_SCRIPT, name, hot_entry, expected, preload, 0, daemon.env))
            log(f"round {index + 1}/{rounds}: " + ", ".join(
                f"{p.label} {p.results[-1]['changed_ms']:.3f} ms" for p in processes)
                + f"; bare so {bare['so'][-1]:.3f} ms, package {bare['package'][-1]:.3f} ms")
        return {"fixture": name, "rounds": rounds, "gap_s": gap, "bare_ms": bare,
                "clients": {p.label: p.results for p in processes}}
    finally:
        for process in processes:
            process.close()
        daemon.stop()


def summarize(result):
    bare = {key: median(values) for key, values in result["bare_ms"].items()}
    lines = [f"{result['fixture']}: {result['rounds']} rounds, gap {result['gap_s']} s before every timed import",
             f"  bare import, fresh process: .so {bare['so']:.3f} ms (hot {bare['so_hot']:.3f}), "
             f"whole package {bare['package']:.3f} ms (hot {bare['package_hot']:.3f})"]
    for label, runs in result["clients"].items():
        changed = median([r["changed_ms"] for r in runs])
        unchanged = median([u for r in runs for u in r["unchanged_ms"]])
        cache = runs[-1].get("spec_cache")
        lines.append(f"  {label}: changed reload {changed:.3f} ms -> {changed / bare['so']:.2f}x the .so, "
                     f"{changed / bare['package']:.2f}x the package; unchanged reload {unchanged:.3f} ms"
                     + (f"; spec cache {cache}" if cache else ""))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", default="cmake_pkg", choices=sorted(EXTENSION_MODULE))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--client", action="append", default=[],
                        help="LABEL=PYCLIENT_DIR (repeatable; default: prestage=<this tree>/pyclient)")
    parser.add_argument("--gap", type=float, default=0.2, help="idle seconds before every timed import (both sides)")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    clients = [tuple(spec.split("=", 1)) for spec in args.client] or [("prestage", str(REPO / "pyclient"))]
    with tempfile.TemporaryDirectory(prefix="prestage-bench-reload-") as directory:
        result = measure(Path(directory), args.fixture, args.rounds, clients, args.gap)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(summarize(result))


if __name__ == "__main__":
    main()
