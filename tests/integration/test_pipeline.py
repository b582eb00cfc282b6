"""Watch -> build -> stage against the real daemon, g++, cmake and pybind11 (issue 3)."""
import os
import pathlib
import signal
import subprocess
import time

from conftest import CODES, PYTHON
from pipeline_helpers import (BUILD_GUARD_S, Events, assert_restart_starts_no_build, finished, open_and_build,
                              project_entry, resolve, save, save_by_rename, value_of, wait_idle)


def test_save_becomes_a_generation_without_any_client(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    first = resolve(daemon, "single_cpp")
    assert first["generation"] >= 1 and value_of(first["origin"], "single_cpp") == 10

    save(single_cpp, single_cpp.read_text().replace("return 10;", "return 20;"))
    done = events.wait_for(lambda m: finished(project, ok=True)(m) and m["params"]["generation"] > first["generation"])
    entry = wait_idle(daemon, project)
    assert entry["generation"] == done["params"]["generation"]
    assert entry["watch"]["mode"] == "inotify" and entry["watch"]["files"] == 1
    second = resolve(daemon, "single_cpp")
    assert second["generation"] == done["params"]["generation"]
    assert second["origin"] != first["origin"], "each generation lives at a fresh path"
    assert os.stat(second["origin"]).st_ino != os.stat(first["origin"]).st_ino
    assert value_of(second["origin"], "single_cpp") == 20
    events.close()


def test_project_state_is_pushed_before_the_build_and_back_to_idle(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    wait_idle(daemon, project)
    events.quiet_for(0.5)
    mark = len(events.seen)
    save(single_cpp, single_cpp.read_text().replace("return 10;", "return 40;"))
    events.wait_for(finished(project, ok=True), after=mark)
    events.wait_for(lambda m: m["method"] == "project/state" and m["params"] == {"project": project, "state": "idle"},
                    after=mark)
    sequence = [m["params"]["state"] if m["method"] == "project/state" else m["method"]
                for m in events.seen[mark:] if m["params"].get("project") == project and m["method"] != "build/progress"]
    # A client hears "queued" as soon as the change is seen: before the settle delay, scan and build.
    assert sequence == ["queued", "building", "build/started", "build/finished", "idle"], sequence
    events.close()


def test_touch_without_change_goes_back_to_idle_without_a_build(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    wait_idle(daemon, project)
    events.quiet_for(0.5)
    mark = len(events.seen)
    os.utime(single_cpp)
    events.wait_for(lambda m: m["method"] == "project/state" and m["params"]["state"] == "idle", after=mark)
    states = [m["params"]["state"] for m in events.seen[mark:] if m["method"] == "project/state"]
    assert states[0] == "queued" and states[-1] == "idle"
    assert events.count("build/started", project) == 1
    events.close()


def test_atomic_rename_save_is_seen(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    before = resolve(daemon, "single_cpp")["generation"]
    save_by_rename(single_cpp, single_cpp.read_text().replace("return 10;", "return 30;"))
    events.wait_for(lambda m: finished(project, ok=True)(m) and m["params"]["generation"] > before)
    assert value_of(resolve(daemon, "single_cpp")["origin"], "single_cpp") == 30
    events.close()


def test_touch_without_change_does_not_rebuild(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    generation = resolve(daemon, "single_cpp")["generation"]
    started = events.count("build/started", project)
    os.utime(single_cpp)
    save(single_cpp, single_cpp.read_text())  # rewrite identical content
    events.quiet_for(2.0)
    assert events.count("build/started", project) == started
    assert wait_idle(daemon, project)["generation"] == generation
    events.close()


def test_burst_of_saves_coalesces_and_the_last_content_wins(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    started = events.count("build/started", project)
    finished_before = events.count("build/finished", project)
    template = single_cpp.read_text()
    for value in range(11, 21):
        save(single_cpp, template.replace("return 10;", f"return {value};"))
        time.sleep(0.005)
    events.wait_for(lambda m: finished(project, ok=True)(m) and events.count("build/finished", project) > finished_before)
    wait_idle(daemon, project)
    events.quiet_for(1.0)
    wait_idle(daemon, project)
    assert events.count("build/started", project) - started <= 2
    assert value_of(resolve(daemon, "single_cpp")["origin"], "single_cpp") == 20
    events.close()


def test_compile_error_has_file_and_line_and_the_previous_generation_stays(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    good = resolve(daemon, "single_cpp")
    lines = single_cpp.read_text().splitlines()
    broken_line = next(i for i, line in enumerate(lines) if "return 10;" in line) + 1
    lines[broken_line - 1] = "  return undefined_name;"
    save(single_cpp, "\n".join(lines) + "\n")

    failed = events.wait_for(finished(project, ok=False))
    errors = [d for d in failed["params"]["diagnostics"] if d["severity"] == "error"]
    assert errors, failed
    assert errors[0]["file"] == str(single_cpp) and errors[0]["line"] == broken_line
    assert "undefined_name" in errors[0]["message"]

    wait_idle(daemon, project)
    error = daemon.rpc_error("spec/resolve", {"name": "single_cpp", "python": PYTHON})
    assert error["code"] == CODES.build_failed
    assert error["data"]["diagnostics"][0]["line"] == broken_line
    assert "undefined_name" in error["data"]["log_tail"]
    entry = project_entry(daemon, project)
    assert entry["generation"] == good["generation"] and entry["last_build"]["ok"] is False
    # The previous generation is intact and still loads.
    assert value_of(good["origin"], "single_cpp") == 10
    assert [g["generation"] for g in daemon.rpc("generation/list", {"id": project})][0] == good["generation"]

    save(single_cpp, single_cpp.read_text().replace("return undefined_name;", "return 40;"))
    events.wait_for(finished(project, ok=True))
    assert value_of(resolve(daemon, "single_cpp")["origin"], "single_cpp") == 40
    events.close()


def test_file_saved_notification_and_build_run_trigger_builds(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    started = events.count("build/started", project)
    assert daemon.rpc("build/run", {"id": project}) == {"id": project, "queued": True}
    events.wait_for(lambda m: m["method"] == "build/started" and m["params"]["project"] == project
                    and events.count("build/started", project) > started)
    wait_idle(daemon, project)
    status, body = daemon.post({"jsonrpc": "2.0", "method": "file/saved", "params": {"path": str(single_cpp)}})
    assert status == 204 and body is None
    log = daemon.rpc("build/log", {"id": project})
    assert log["id"] == project and isinstance(log["log"], str)
    events.close()


def test_missing_compiler_is_a_clear_failed_build(start_daemon, single_cpp, tmp_path):
    bin_dir = tmp_path / "bin-without-gxx"
    bin_dir.mkdir()
    env = dict(os.environ, PATH=str(bin_dir))
    daemon = start_daemon(env=env)
    events = Events(daemon)
    opened = daemon.rpc("project/open", {"root": str(single_cpp), "python": PYTHON})
    failed = events.wait_for(finished(opened["id"], ok=False))
    assert any("g++" in d["message"] for d in failed["params"]["diagnostics"]), failed
    error = daemon.rpc_error("spec/resolve", {"name": "single_cpp", "python": PYTHON, "wait": True})
    assert error["code"] == CODES.build_failed and "g++" in error["message"]
    events.close()


def test_python_only_change_restages_without_compiling(daemon, cmake_pkg):
    events = Events(daemon)
    project = open_and_build(daemon, events, cmake_pkg)
    first = resolve(daemon, "cmake_pkg")
    init = cmake_pkg / "src" / "cmake_pkg" / "__init__.py"
    save(init, init.read_text() + "\nRESTAGED = True\n")
    done = events.wait_for(lambda m: finished(project, ok=True)(m) and m["params"]["generation"] > first["generation"])
    second = resolve(daemon, "cmake_pkg")
    assert second["generation"] == done["params"]["generation"]
    assert {a["module"]: a["sha256"] for a in second["artifacts"]} == {a["module"]: a["sha256"] for a in first["artifacts"]}
    assert "RESTAGED = True" in pathlib.Path(second["origin"]).read_text()
    assert "without compiling" in daemon.rpc("build/log", {"id": project})["log"]
    # Extensions are fresh copies even when unchanged.
    for old, new in zip(sorted(first["artifacts"], key=lambda a: a["module"]), sorted(second["artifacts"], key=lambda a: a["module"])):
        assert os.stat(old["path"]).st_ino != os.stat(new["path"]).st_ino
    events.close()


def test_kill_during_a_build_then_restart_recovers_without_needless_rebuilds(start_daemon, single_cpp, tmp_path):
    state = tmp_path / "state"
    daemon = start_daemon(state_dir=state)
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    generation = resolve(daemon, "single_cpp")["generation"]

    save(single_cpp, single_cpp.read_text().replace("return 10;", "return 50;"))
    events.wait_for(lambda m: m["method"] == "build/started" and m["params"]["project"] == project
                    and events.count("build/started", project) >= 2)
    events.close()
    daemon.kill9()
    assert not any(".tmp" in p.name for p in state.rglob("gen-*")), "a half-written generation is visible"

    daemon = start_daemon(state_dir=state)
    events = Events(daemon)
    assert [p["id"] for p in daemon.rpc("project/list")] == [project]
    rebuilt = resolve(daemon, "single_cpp")  # waits for the rebuild of the changed source
    assert rebuilt["generation"] > generation and value_of(rebuilt["origin"], "single_cpp") == 50
    wait_idle(daemon, project)
    assert not list(state.rglob("*.tmp*"))
    events.close()
    assert daemon.stop() == 0

    # Unchanged sources: a restart stages nothing and starts no build.
    daemon = assert_restart_starts_no_build(start_daemon, state, project, "single_cpp", rebuilt["generation"])
    assert daemon.rpc("build/log", {"id": project})["ok"] is None


def test_inotify_overflow_rescans_and_builds_the_newest_content(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    limit = int(pathlib.Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    flood = single_cpp.parent
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        for i in range(limit + 1000):
            (flood / f"noise-{i}.txt").touch()
        save(single_cpp, single_cpp.read_text().replace("return 10;", "return 60;"))
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    events.wait_for(lambda m: finished(project, ok=True)(m) and events.count("build/finished", project) >= 2)
    entry = wait_idle(daemon, project)
    assert entry["watch"]["overflows"] >= 1
    assert value_of(resolve(daemon, "single_cpp")["origin"], "single_cpp") == 60
    events.close()


def test_pybind11_projects_get_a_helper_built_against_their_pybind11(daemon, single_cpp):
    events = Events(daemon)
    open_and_build(daemon, events, single_cpp)
    deadline = time.monotonic() + BUILD_GUARD_S
    helper = None
    while helper is None and time.monotonic() < deadline:
        helper = resolve(daemon, "single_cpp").get("pybind11_helper")
        if helper is None:
            time.sleep(0.5)
    assert helper, "spec/resolve never offered the pybind11 helper"
    code = ("import importlib.util\n"
            f"spec = importlib.util.spec_from_file_location('_prestage_pybind11', {helper!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "print(callable(m.release_module_types))\n")
    assert subprocess.run([PYTHON, "-c", code], check=True, capture_output=True, text=True).stdout.strip() == "True"
    events.close()
