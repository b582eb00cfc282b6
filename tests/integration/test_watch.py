"""File watching at scale: the daemon shares one inotify instance between every open project, so more
projects than fs.inotify.max_user_instances all watch with inotify, and a save in the last one opened is
still noticed."""
import os
import pathlib

from pipeline_helpers import Events, save, wait_all_idle

# Builds fail at once ("not a working Python"): the test is about watching, not building.
FAILING_PYTHON = "/bin/true"
SOURCE = "#include <pybind11/pybind11.h>\nPYBIND11_MODULE({name}, m) {{ m.def(\"get_num\", [] {{ return {value}; }}); }}\n"


def inotify_instances(pid):
    count = 0
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            pass
    return count


def test_more_projects_than_inotify_instances_all_watch_with_inotify(daemon, projects_dir):
    limit = int(pathlib.Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    # Past the limit where it is a usual one (128); a machine with a huge limit still checks that one instance serves all.
    count = max(150, min(limit + 22, 600))
    files = []
    for index in range(count):
        # Two single-file projects per directory: their watches share one kernel wd.
        directory = projects_dir / f"d{index // 2:03d}"
        directory.mkdir(exist_ok=True)
        path = directory / f"mod{index:03d}.cpp"
        path.write_text(SOURCE.format(name=f"mod{index:03d}", value=index))
        files.append(path)
    ids = [daemon.rpc("project/open", {"root": str(path), "python": FAILING_PYTHON})["id"] for path in files]

    listing = wait_all_idle(daemon)
    by_id = {p["id"]: p for p in listing}
    assert len(by_id) == count
    polling = {pid: by_id[pid]["watch"] for pid in ids if by_id[pid]["watch"]["mode"] != "inotify"}
    assert not polling, f"{len(polling)} of {count} projects do not watch with inotify: {list(polling.items())[:3]}"
    assert inotify_instances(daemon.pid) == 1

    events = Events(daemon)
    last = ids[-1]
    save(files[-1], SOURCE.format(name=f"mod{count - 1:03d}", value=-1))
    started = events.wait_for(lambda m: m["method"] == "build/started" and m["params"]["project"] == last, timeout=60)
    assert any(reason.endswith(files[-1].name) for reason in started["params"]["reason"]), started
    events.close()
