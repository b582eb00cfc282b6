"""Read-your-writes at the protocol level: `sync`, and `spec/resolve` with `sync`, see every write
completed before the call, with inotify and when the daemon polls (--watch poll). Real daemon, g++."""
import shutil

import pytest

from conftest import CODES, FIXTURES, PYTHON, RpcError
from pipeline_helpers import BUILD_GUARD_S, Events, finished, open_and_build, project_entry, save, value_of


@pytest.fixture
def rw_single(tmp_path):
    """The fast-building single-file C-API module (tests/fixtures/single/rw_single.cpp)."""
    work = tmp_path / "work"
    work.mkdir()
    source = work / "rw_single.cpp"
    shutil.copy(FIXTURES / "single" / "rw_single.cpp", source)
    return source


def write_value(source, value):
    text = source.read_text()
    start = text.index("PyLong_FromLong(") + len("PyLong_FromLong(")
    save(source, text[:start] + str(value) + text[text.index(")", start):])


def synced_value(daemon):
    spec = daemon.rpc("spec/resolve", {"name": "rw_single", "python": PYTHON, "sync": True, "wait": BUILD_GUARD_S})
    return spec, value_of(spec["origin"], "rw_single", "value")


def test_resolve_with_sync_right_after_writes(daemon, rw_single):
    events = Events(daemon)
    project = open_and_build(daemon, events, rw_single)
    for value in (1, 2, 3):
        write_value(rw_single, value)
        spec, got = synced_value(daemon)  # the very next call, no waiting for notifications
        assert got == value
    assert project_entry(daemon, project)["generation"] == spec["generation"]
    events.close()


def test_sync_waits_for_the_build_a_write_started_and_lists_projects(daemon, rw_single):
    events = Events(daemon)
    project = open_and_build(daemon, events, rw_single)
    before = project_entry(daemon, project)["generation"]
    write_value(rw_single, 7)
    listed = daemon.rpc("sync", {"wait": BUILD_GUARD_S})["projects"]
    entry = next(p for p in listed if p["id"] == project)
    assert entry["state"] == "idle" and entry["generation"] == before + 1 and entry["last_build"]["ok"] is True
    # Only the projects asked for; a write of the same bytes is taken in without a build.
    save(rw_single, rw_single.read_text())
    listed = daemon.rpc("sync", {"projects": [project], "wait": BUILD_GUARD_S})["projects"]
    assert [p["id"] for p in listed] == [project] and listed[0]["generation"] == before + 1
    events.quiet_for(0.5)  # reads the notifications sent meanwhile
    assert events.count("build/started", project) == 2, "the first build and the one after the write"
    events.close()


def test_sync_without_wait_answers_at_once_with_the_change_taken_in(daemon, rw_single):
    events = Events(daemon)
    project = open_and_build(daemon, events, rw_single)
    mark = len(events.seen)
    write_value(rw_single, 9)
    listed = daemon.rpc("sync")["projects"]
    assert next(p for p in listed if p["id"] == project)["state"] in ("queued", "building"), "the write was seen"
    events.wait_for(finished(project, ok=True), after=mark)
    events.close()


def test_sync_rejects_bad_params_naming_them(daemon):
    with pytest.raises(RpcError) as unknown:
        daemon.rpc("sync", {"projects": ["no-such-project"]})
    assert unknown.value.code == CODES.invalid_params and "no-such-project" in unknown.value.message
    for params, field in (({"wait": "soon"}, "params.wait"), ({"projects": "x"}, "params.projects"),
                          ({"projects": [1]}, "params.projects")):
        with pytest.raises(RpcError) as bad:
            daemon.rpc("sync", params)
        assert bad.value.code == CODES.invalid_params and field in bad.value.message, bad.value.message
    with pytest.raises(RpcError) as bad_flag:
        daemon.rpc("spec/resolve", {"name": "x", "python": PYTHON, "sync": "yes"})
    assert bad_flag.value.code == CODES.invalid_params and "params.sync" in bad_flag.value.message


def test_polling_daemon_reads_your_writes_too(start_daemon, rw_single):
    daemon = start_daemon(args=["--watch", "poll"])
    events = Events(daemon)
    project = open_and_build(daemon, events, rw_single)
    watch = project_entry(daemon, project)["watch"]
    assert watch["mode"] == "poll" and "--watch poll" in watch["error"]
    for value in (4, 5):
        write_value(rw_single, value)  # the next poll round is 2 s away: sync stats the sources itself
        assert synced_value(daemon)[1] == value
    events.close()


def test_two_projects_providing_one_module_resolve_to_the_one_opened_last(daemon, tmp_path):
    roots = []
    for name in ("first", "second"):
        root = tmp_path / name / "rw_single.cpp"
        root.parent.mkdir()
        shutil.copy(FIXTURES / "single" / "rw_single.cpp", root)
        write_value(root, 1 if name == "first" else 2)
        roots.append(root)
    ids = [daemon.rpc("project/open", {"root": str(root), "python": PYTHON})["id"] for root in roots]
    assert synced_value(daemon)[0]["project"] == ids[1]
    daemon.rpc("project/open", {"root": str(roots[0]), "python": PYTHON})  # working on the first again
    spec, value = synced_value(daemon)
    assert spec["project"] == ids[0] and value == 1
