"""Profiles one changed reload of a package (cProfile) against a real daemon, to see where the
time over a bare import goes. Usage: /usr/bin/python3 bench/profile_reload.py [cmake_pkg|pyo3_pure]"""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import TOGGLES, Daemon, copy_fixture, run_json, write_cargo_config  # noqa: E402

SCRIPT = r"""
import cProfile, importlib, io, json, pathlib, pstats, time
import prestage
NAME, SOURCE, OLD, NEW = {args}
prestage.install()
module = importlib.import_module(NAME)
client = prestage.connect()
def project():
    return next(p for p in prestage.status() if NAME in p["modules"])
report = {{}}
for index in range(4):
    before = project()["last_build"]
    path = pathlib.Path(SOURCE)
    text = path.read_text()
    old, new = (OLD, NEW) if OLD in text else (NEW, OLD)
    path.write_text(text.replace(old, new, 1))
    while project()["last_build"] == before or project()["state"] != "idle":
        time.sleep(0.05)
    time.sleep(0.2)
    if index == 3:
        profiler = cProfile.Profile()
        profiler.enable()
        importlib.reload(module)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        report["profile"] = out.getvalue()
    else:
        began = time.perf_counter(); importlib.reload(module); report.setdefault("reload_ms", []).append((time.perf_counter() - began) * 1e3)
rpc = []
for _ in range(50):
    began = time.perf_counter()
    client.call("spec/resolve", {{"name": NAME, "python": __import__("sys").executable, "loaded": True}})
    rpc.append((time.perf_counter() - began) * 1e3)
report["spec_resolve_ms_median"] = sorted(rpc)[25]
print(json.dumps(report))
"""


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "cmake_pkg"
    with tempfile.TemporaryDirectory(prefix="prestage-profile-") as directory:
        root = Path(directory)
        write_cargo_config(root)
        daemon = Daemon(root / "d")
        try:
            copy = copy_fixture(name, root / "ws" / name)
            project = daemon.open(copy)
            daemon.wait_idle(project["id"])
            relative, old, new = TOGGLES[name]
            report = run_json(SCRIPT.format(args=repr((name, str(copy / relative), old, new))), daemon.env)
        finally:
            daemon.stop()
    print(f"reload_ms: {report['reload_ms']}; spec/resolve round trip median {report['spec_resolve_ms_median']:.3f} ms")
    print(report["profile"])


if __name__ == "__main__":
    main()
