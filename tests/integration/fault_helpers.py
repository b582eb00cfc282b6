"""Helpers for the fault and load tests: /proc readings, generation checks, tmpfs mounts."""
import contextlib
import hashlib
import json
import os
import pathlib
import subprocess

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time the process has used so far (from /proc/PID/stat)."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def sanitized(pid):
    """True when the process runs with AddressSanitizer's runtime."""
    return "libasan" in pathlib.Path(f"/proc/{pid}/maps").read_text()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_generation_dir(gen_dir):
    """A published generation: manifest.json present, its number matches the dir, every artifact's sha256 matches.
    Returns the manifest."""
    gen_dir = pathlib.Path(gen_dir)
    manifest_path = gen_dir / "manifest.json"
    assert manifest_path.is_file(), f"{gen_dir} is visible without a manifest (half a generation)"
    manifest = json.loads(manifest_path.read_text())
    assert f"gen-{manifest['generation']}" == gen_dir.name, f"{gen_dir}: manifest says generation {manifest['generation']}"
    for artifact in manifest["artifacts"]:
        path = gen_dir / artifact["relpath"]
        assert path.is_file(), f"{gen_dir}: artifact {artifact['relpath']} is missing"
        assert sha256_file(path) == artifact["sha256"], f"{gen_dir}: {artifact['relpath']} does not match its sha256"
    return manifest


def visible_generations(state_dir):
    """Every gen-N dir under STATE/projects/*/<python_key>/."""
    return sorted(p for p in pathlib.Path(state_dir).glob("projects/*/*/gen-*") if p.is_dir())


def temp_entries(state_dir):
    return [p for p in pathlib.Path(state_dir).rglob("*") if ".tmp" in p.name]


def check_resolved_spec(spec):
    """A spec/resolve result is consistent with a published generation (dir exists, artifacts match)."""
    origin = pathlib.Path(spec["origin"])
    gen_dir = next((p for p in [origin, *origin.parents] if p.name.startswith("gen-")), None)
    assert gen_dir is not None, f"origin {origin} is not inside a gen-N dir"
    manifest = check_generation_dir(gen_dir)
    assert manifest["generation"] == spec["generation"]
    staged = {a["module"]: a["sha256"] for a in manifest["artifacts"]}
    for artifact in spec["artifacts"]:
        assert staged.get(artifact["module"]) == artifact["sha256"], f"{artifact} disagrees with {gen_dir}/manifest.json"
    return manifest


@contextlib.contextmanager
def tmpfs(path, size):
    """Mounts a tmpfs of `size` (e.g. "16m") at `path`; yields False when mounting is not permitted."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        yield mounted.stderr.strip() or f"mount exited {mounted.returncode}"
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_filesystem(path, filler_name="filler.bin"):
    """Writes zeros into `path` until ENOSPC; returns the filler file (delete it to free the space)."""
    filler = pathlib.Path(path) / filler_name
    block = b"\0" * (1 << 16)
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    tail = pathlib.Path(path) / (filler_name + ".tail")
    try:  # what a 64 KiB block could not fill
        with open(tail, "wb") as f:
            while True:
                f.write(b"\0" * 512)
                f.flush()
    except OSError:
        pass
    return [filler, tail]
