#!/usr/bin/env bash
# Soak (issue 6): saves every 100 ms for DURATION seconds (default 300) on two projects against the real
# daemon. Reports whether generations keep up, FD/RSS over time (leaks) and the state dir's disk use (GC).
#   bench/soak.sh [DURATION_S]       PRESTAGE_SERVER overrides the daemon binary. Not run in CI.
# Last line: soak: duration_s=.. saves=.. generations=.. fds=A->B rss_mb=A->B disk_mb_max=.. caught_up=yes|no
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/.ci/setup.sh" >&2 || { echo "soak: set-up failed" >&2; exit 1; }  # packages and the build, as ./test.sh
export PRESTAGE_SERVER=${PRESTAGE_SERVER:-$repo/build/server/app/prestaged}
exec /usr/bin/python3 - "${1:-300}" "$repo" <<'PY'
import http.client, json, os, pathlib, shutil, signal, subprocess, sys, tempfile, time

duration, repo = float(sys.argv[1]), pathlib.Path(sys.argv[2])
server = os.environ["PRESTAGE_SERVER"]
python = "/usr/bin/python3"
work = pathlib.Path(tempfile.mkdtemp(prefix="prestage-soak-"))
state = work / "state"
sources = []
for name in ("soak_a", "soak_b"):
    text = (repo / "tests/fixtures/single/single_cpp.cpp").read_text().replace("single_cpp", name)
    path = work / "src" / f"{name}.cpp"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    sources.append((name, path, text))

log = open(work / "prestaged.log", "wb")
proc = subprocess.Popen([server, "--state-dir", str(state)], stdout=log, stderr=subprocess.STDOUT)
try:
    deadline = time.monotonic() + 30
    while True:
        try:
            info = json.loads((state / "server.json").read_text())
            if info["pid"] == proc.pid:
                break
        except (FileNotFoundError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            sys.exit("soak: daemon did not start")
        time.sleep(0.05)
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=600)
    ids = iter(range(1, 1 << 62))

    def rpc(method, params=None):
        body = {"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params or {}}
        conn.request("POST", "/rpc", json.dumps(body), {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"})
        reply = json.loads(conn.getresponse().read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def sample():
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        rss = next(int(l.split()[1]) for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS:")) / 1024
        disk = sum(f.stat().st_size for f in state.rglob("*") if f.is_file()) / 2**20
        gens = {p["id"]: p["generation"] for p in rpc("project/list")}
        return fds, rss, disk, gens

    projects = [rpc("project/open", {"root": str(p), "python": python})["id"] for _, p, _ in sources]
    for name, _, _ in sources:
        rpc("spec/resolve", {"name": name, "python": python, "wait": 300})
    first = sample()
    print(f"soak: start fds={first[0]} rss_mb={first[1]:.1f} disk_mb={first[2]:.1f} generations={first[3]}", flush=True)
    samples, saves, value = [first], 0, 10
    start = time.monotonic()
    next_sample = start + 10
    while time.monotonic() - start < duration:
        value += 1
        for name, path, text in sources:
            path.write_text(text.replace("return 10;", f"return {value};"))
        saves += 1
        time.sleep(0.1)
        if time.monotonic() >= next_sample:
            samples.append(sample())
            s = samples[-1]
            print(f"soak: t={time.monotonic() - start:5.0f}s saves={saves} fds={s[0]} rss_mb={s[1]:.1f} disk_mb={s[2]:.1f} generations={s[3]}", flush=True)
            next_sample += 10
    # Catch up: the newest generation of each project must load the last saved value.
    caught_up = True
    for name, _, _ in sources:
        spec = rpc("spec/resolve", {"name": name, "python": python, "wait": 300})
        for _ in range(600):
            if all(p["state"] == "idle" for p in rpc("project/list")):
                break
            time.sleep(0.5)
        spec = rpc("spec/resolve", {"name": name, "python": python, "wait": 300})
        code = (f"import importlib.util as u; s=u.spec_from_file_location({name!r},{spec['origin']!r}); "
                "m=u.module_from_spec(s); s.loader.exec_module(m); print(m.get_num())")
        got = int(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
        print(f"soak: {name} generation {spec['generation']} returns {got} (last saved {value})")
        caught_up = caught_up and got == value
    last = sample()
    gens_kept = {p.parent.parent.name: len(list(p.parent.glob("gen-*"))) for p in state.glob("projects/*/*/gen-*")}
    steady = samples[len(samples) // 2:]  # second half: after warm-up
    print(f"soak: generations kept on disk per project: {gens_kept}")
    print(f"soak: second-half fds {min(s[0] for s in steady)}..{max(s[0] for s in steady)}, "
          f"rss_mb {min(s[1] for s in steady):.1f}..{max(s[1] for s in steady):.1f}, disk_mb {min(s[2] for s in steady):.1f}..{max(s[2] for s in steady):.1f}")
    print(f"soak: duration_s={duration:.0f} saves={saves} generations={sum(last[3].values())} fds={first[0]}->{last[0]} "
          f"rss_mb={first[1]:.1f}->{last[1]:.1f} disk_mb_max={max(s[2] for s in samples):.1f} caught_up={'yes' if caught_up else 'no'}")
    conn.close()
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(work, ignore_errors=True)
PY
