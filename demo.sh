#!/usr/bin/env bash
# Installs what is missing, builds, starts prestaged on a sample pybind11 package, then shows a
# save being built and staged in the background and `importlib.reload` picking it up at once.
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo"
./.ci/setup.sh

demo=$repo/.cache/demo
rm -rf "$demo/work"
mkdir -p "$demo/work"
cp -r tests/fixtures/cmake_pkg "$demo/work/"
export PRESTAGE_STATE_DIR=$demo/state
export PRESTAGE_SERVER=$repo/build/server/app/prestaged
export PYTHONPATH=$repo/pyclient${PYTHONPATH:+:$PYTHONPATH}
python=/usr/bin/python3

"$PRESTAGE_SERVER" --state-dir "$PRESTAGE_STATE_DIR" --log-level warn &
daemon=$!
trap '"$python" -m prestage stop >/dev/null 2>&1 || kill $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$PRESTAGE_STATE_DIR/server.json" ] && break; sleep 0.1; done

"$python" - "$demo/work/cmake_pkg" <<'PY'
import importlib, json, os, pathlib, sys, time, urllib.request
import prestage

root = pathlib.Path(sys.argv[1])
prestage.install()
project = prestage.open(root)
print(f"prestaged: opened {project['id']} ({project['kind']}), first build running ...")
prestage.wait_idle(timeout=300)
sys.path.insert(0, str(root / "src"))
import cmake_pkg
print(f"cmake_pkg.get_num() = {cmake_pkg.get_num()}")

def generation():
    return next(p["generation"] for p in prestage.status() if p["id"] == project["id"])

before = generation()
source = root / "src" / "core.cpp"
source.write_text(source.read_text().replace("return 10;", "return 20;"))
print(f"saved {source.name}: get_num now returns 20; prestaged rebuilds in the background ...")
deadline = time.monotonic() + 300
while generation() <= before and time.monotonic() < deadline:
    time.sleep(0.1)
print(f"generation {generation()} staged")

start = time.perf_counter()
importlib.reload(cmake_pkg)
elapsed_ms = (time.perf_counter() - start) * 1000
print(f"importlib.reload(cmake_pkg) took {elapsed_ms:.1f} ms; cmake_pkg.get_num() = {cmake_pkg.get_num()}")

info = json.loads((pathlib.Path(os.environ["PRESTAGE_STATE_DIR"]) / "server.json").read_text())
with urllib.request.urlopen(f"http://127.0.0.1:{info['port']}/health") as reply:
    print("GET /health ->", reply.read().decode())
PY
