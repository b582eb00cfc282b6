"""Where the time of a reload goes, against a real daemon and real builds.

Usage: /usr/bin/python3 bench/profile_reload.py [cmake_pkg|pyo3_pure] [--rounds N] [--pyclient DIR]

Per round: save, wait for the build, sleep 0.2 s, then one changed `importlib.reload(pkg)` and five
unchanged ones. Phases are timed with perf_counter_ns wrappers around the finder, the spec cache,
prestage._reload and importlib's loaders (each wrapper adds about a microsecond). The last changed
reload also runs under cProfile. --pyclient profiles another client tree (e.g. an older checkout)."""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import GUARD_S, PYTHON, REPO, TOGGLES, Daemon, copy_fixture, write_cargo_config  # noqa: E402

SCRIPT = r"""
import collections, cProfile, importlib, importlib.machinery as machinery, io, json, pathlib, pstats, statistics, sys, time
import prestage
from prestage import _reload
NAME, SOURCE, OLD, NEW, ROUNDS = {args}
spent = collections.Counter()

def timed(owner, attribute, label):
    original = getattr(owner, attribute, None)
    if original is None:
        return
    def wrapper(*args, **kwargs):
        began = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter_ns() - began
    setattr(owner, attribute, wrapper)

timed(prestage.PrestageFinder, "find_spec", "finder.find_spec (all)")
timed(prestage.PrestageFinder, "_resolve", "finder._resolve (a kept answer, or one syncing spec/resolve)")
if hasattr(prestage.Client, "send"):
    timed(prestage.Client, "send", "spec/resolve round trip (send)")
timed(_reload, "spec_for_reload", "spec_for_reload")
timed(_reload, "release_pybind11_types", "pybind11 type release")
timed(_reload, "_unload_changed_extensions", "unload changed extensions")
timed(_reload, "forget_extension_submodules", "forget extension submodules")
timed(_reload, "_repoint_subpackages", "repoint subpackages")
timed(prestage.PrestageFinder, "_refresh_managed", "project/list refresh")
timed(prestage.PrestageFinder, "_answer", "finder._answer (record the answer)")
timed(prestage.PrestageFinder, "_ask", "finder._ask (spec/resolve by call)")
timed(prestage.Client, "call", "Client.call (any RPC)")
timed(_reload, "settle_pybind11_types", "pybind11 type settle")
timed(_reload.ExtensionLoader, "exec_module", "extension exec_module (PyInit's module exec + settle)")
timed(_reload.StagedSourceLoader, "exec_module", "package __init__ exec (whole, nested import included)")
timed(machinery.SourceFileLoader, "get_code", "get_code (compile or .pyc)")
if hasattr(_reload, "StagedSourceLoader"):
    timed(_reload.StagedSourceLoader, "get_code", "get_code (staged)")
timed(machinery.ExtensionFileLoader, "create_module", "create_dynamic (dlopen + PyInit)")
timed(machinery.PathFinder, "find_spec", "PathFinder.find_spec")

finder = prestage.install()
module = importlib.import_module(NAME)
def project():
    return next(p for p in prestage.status() if NAME in p["modules"])
phases = collections.defaultdict(list)
profile_text = ""
for index in range(ROUNDS):
    before = project()["last_build"]
    path = pathlib.Path(SOURCE)
    text = path.read_text()
    old, new = (OLD, NEW) if OLD in text else (NEW, OLD)
    path.write_text(text.replace(old, new, 1))
    while project()["last_build"] == before or project()["state"] != "idle":
        time.sleep(0.05)
    time.sleep(0.2)
    for kind in ["changed"] + ["unchanged"] * 5:
        profiler = cProfile.Profile() if kind == "changed" and index == ROUNDS - 1 else None
        spent.clear()
        if profiler:
            profiler.enable()
        began = time.perf_counter_ns()
        importlib.reload(module)
        total = time.perf_counter_ns() - began
        if profiler:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            profile_text = out.getvalue()
            continue  # cProfile's overhead would skew the phase medians
        phases[kind, "total"].append(total / 1e3)
        for label, ns in spent.items():
            phases[kind, label].append(ns / 1e3)
    assert module.get_num() == (20 if new == NEW else 10)
specs = getattr(finder, "specs", None)
print(json.dumps({{
    "phases": [[kind, label, statistics.median(values), len(values)] for (kind, label), values in sorted(phases.items())],
    "profile": profile_text,
    "spec_cache": None if specs is None else {{"hits": specs.hits, "misses": specs.misses}},
}}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="cmake_pkg", choices=("cmake_pkg", "pyo3_pure"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--pyclient", default=str(REPO / "pyclient"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prestage-profile-") as directory:
        root = Path(directory)
        write_cargo_config(root)
        daemon = Daemon(root / "d")
        try:
            copy = copy_fixture(args.name, root / "ws" / args.name)
            project = daemon.open(copy)
            daemon.wait_idle(project["id"])
            relative, old, new = TOGGLES[args.name]
            code = SCRIPT.format(args=repr((args.name, str(copy / relative), old, new, args.rounds)))
            env = {**daemon.env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": args.pyclient}
            completed = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=GUARD_S)
            if completed.returncode != 0:
                sys.exit(f"profile_reload: the client failed:\n{completed.stderr[-4000:]}")
            report = json.loads(completed.stdout.strip().splitlines()[-1])
        finally:
            daemon.stop()
    print(f"{args.name}, client {args.pyclient}: medians over {args.rounds - 1} changed and {args.rounds * 5} unchanged reloads (us)")
    for kind, label, value, count in report["phases"]:
        print(f"  {kind:9s} {label:40s} {value:9.1f}  (n={count})")
    if report["spec_cache"]:
        print(f"  spec cache: {report['spec_cache']}")
    print(report["profile"])


if __name__ == "__main__":
    main()
