"""Faults against the real daemon (issue 6 Hardening): kill -9 while staging, missing tools, a full
staging filesystem, a project dir deleted or renamed while open, broken and slow clients.
kill -9 during a build, the inotify overflow and a missing g++ are in test_pipeline.py."""
import os
import pathlib
import shutil
import signal
import socket
import time

import pytest

from conftest import CODES, FIXTURES, PYTHON, make_cargo_pyo3, make_cmake_pybind11
from fault_helpers import (check_generation_dir, check_resolved_spec, cpu_seconds, fill_filesystem, temp_entries,
                           tmpfs, visible_generations)
from pipeline_helpers import (Events, assert_restart_starts_no_build, finished, project_entry, resolve, save, value_of,
                              wait_idle)

GUARD_S = 300


def open_project(daemon, root):
    return daemon.rpc("project/open", {"root": str(root), "python": PYTHON})["id"]


# ---------------------------------------------------------------- kill -9 while staging

def test_kill_9_during_staging_leaves_no_half_generation_and_restart_recovers(start_daemon, tmp_path):
    root = tmp_path / "work" / "cmake_pkg"
    shutil.copytree(FIXTURES / "cmake_pkg", root)
    # A large data file in the package makes staging (a full copy of the tree) last long enough to catch.
    blob = root / "src" / "cmake_pkg" / "blob.bin"
    blob.write_bytes(os.urandom(1 << 20) * 48)
    state = tmp_path / "state"
    daemon = start_daemon(state_dir=state)
    events = Events(daemon)
    project = open_project(daemon, root)
    events.wait_for(finished(project, ok=True), timeout=GUARD_S)
    first = resolve(daemon, "cmake_pkg")
    check_resolved_spec(first)
    key_dir = pathlib.Path(first["origin"]).parents[2]  # .../<python_key>/gen-N/cmake_pkg/__init__.py
    assert key_dir.parent.parent.name == "projects", key_dir

    init = root / "src" / "cmake_pkg" / "__init__.py"
    save(init, init.read_text() + "\nAFTER_KILL = 1\n")  # a Python-only change: restaged without compiling
    caught = False
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline and not caught:
        with os.scandir(key_dir) as entries:
            if any(".tmp" in e.name for e in entries):
                os.kill(daemon.pid, signal.SIGSTOP)  # freeze it mid-copy
                caught = True
    assert caught, "never saw the staging temp dir"
    try:
        assert any(".tmp" in p.name for p in key_dir.iterdir()), "staging had already finished when frozen"
        for gen_dir in visible_generations(state):  # what a client could see at this instant
            check_generation_dir(gen_dir)
    finally:
        events.close()
        daemon.kill9()
    for gen_dir in visible_generations(state):
        manifest = check_generation_dir(gen_dir)
        assert manifest["generation"] == first["generation"], "the interrupted generation became visible"

    daemon = start_daemon(state_dir=state)
    events = Events(daemon)
    assert [p["id"] for p in daemon.rpc("project/list")] == [project]
    recovered = resolve(daemon, "cmake_pkg")  # the changed source needs one restage
    check_resolved_spec(recovered)
    assert recovered["generation"] > first["generation"]
    assert "AFTER_KILL = 1" in pathlib.Path(recovered["origin"]).read_text()
    wait_idle(daemon, project)
    assert not temp_entries(state), f"temp entries left after recovery: {temp_entries(state)}"
    events.close()
    assert daemon.stop() == 0

    # Nothing changed since: a restart starts no build at all.
    assert_restart_starts_no_build(start_daemon, state, project, "cmake_pkg", recovered["generation"], quiet_s=1.5)


# ---------------------------------------------------------------- missing build tools

@pytest.mark.parametrize("tool", ["cargo", "cmake"])
def test_missing_build_tool_is_a_clear_failed_build(start_daemon, projects_dir, tmp_path, tool):
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir()
    daemon = start_daemon(env=dict(os.environ, PATH=str(bin_dir)))
    events = Events(daemon)
    root, modules = (make_cargo_pyo3 if tool == "cargo" else make_cmake_pybind11)(projects_dir)
    project = open_project(daemon, root)
    failed = events.wait_for(finished(project, ok=False), timeout=GUARD_S)
    messages = [d["message"] for d in failed["params"]["diagnostics"]]
    assert any(tool in m for m in messages), f"no diagnostic names {tool}: {messages}"
    error = daemon.rpc_error("spec/resolve", {"name": modules[0], "python": PYTHON, "wait": True})
    assert error["code"] == CODES.build_failed and tool in error["message"], error
    entry = wait_idle(daemon, project)
    assert entry["last_build"]["ok"] is False and entry["generation"] == 0
    events.close()


# ---------------------------------------------------------------- staging filesystem full

def test_full_staging_filesystem_fails_cleanly_keeps_the_previous_generation_and_recovers(start_daemon, single_cpp, tmp_path):
    state = tmp_path / "small-state"
    with tmpfs(state, "48m") as mounted:
        if mounted is not True:
            pytest.skip(f"cannot mount a tmpfs for the state dir: {mounted}")
        daemon = start_daemon(state_dir=state)
        events = Events(daemon)
        project = open_project(daemon, single_cpp)
        events.wait_for(finished(project, ok=True), timeout=GUARD_S)
        good = resolve(daemon, "single_cpp")
        check_resolved_spec(good)

        fillers = fill_filesystem(state)
        try:
            save(single_cpp, single_cpp.read_text().replace("return 10;", "return 70;"))
            failed = events.wait_for(finished(project, ok=False), timeout=GUARD_S)
            # Build outputs live in the state dir too, so the compiler or the stager hits ENOSPC; the log says so.
            log = daemon.rpc("build/log", {"id": project})
            assert log["ok"] is False
            assert "no space left on device" in log["log"].lower(), f"the failed build's log does not say the disk is full: {log['log'][-2000:]}"
            entry = wait_idle(daemon, project)
            assert entry["generation"] == good["generation"] and entry["last_build"]["ok"] is False
            check_resolved_spec(good)  # the previous generation is intact ...
            assert value_of(good["origin"], "single_cpp") == 10  # ... and still loads
            for gen_dir in visible_generations(state):
                check_generation_dir(gen_dir)
            assert daemon.running()
        finally:
            for filler in fillers:
                filler.unlink(missing_ok=True)

        # Space is back: the next save builds and stages.
        save(single_cpp, single_cpp.read_text().replace("return 70;", "return 71;"))
        done = events.wait_for(lambda m: finished(project, ok=True)(m) and m["params"]["generation"] > good["generation"],
                               timeout=GUARD_S)
        recovered = resolve(daemon, "single_cpp")
        assert recovered["generation"] == done["params"]["generation"]
        check_resolved_spec(recovered)
        assert value_of(recovered["origin"], "single_cpp") == 71
        wait_idle(daemon, project)
        assert not temp_entries(state), f"temp entries left behind: {temp_entries(state)}"
        events.close()
        assert daemon.stop() == 0


# ---------------------------------------------------------------- project dir deleted or renamed while open

@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_project_dir_removed_while_open_is_a_clear_state_without_a_busy_loop(daemon, projects_dir, how):
    events = Events(daemon)
    root, modules = make_cmake_pybind11(projects_dir)
    project = open_project(daemon, root)
    events.wait_for(finished(project), timeout=GUARD_S)
    wait_idle(daemon, project)
    if how == "deleted":
        shutil.rmtree(root)
    else:
        root.rename(root.with_name(root.name + "-moved"))

    deadline = time.monotonic() + 30
    entry = project_entry(daemon, project)
    # In poll mode (inotify instances exhausted) the watcher must report the vanished root the same way.
    while time.monotonic() < deadline and str(root) not in (entry["watch"].get("error") or entry.get("error") or ""):
        time.sleep(0.1)
        entry = project_entry(daemon, project)
    message = entry["watch"].get("error") or entry.get("error")
    assert message and str(root) in message, f"project/list shows no error naming the vanished root: {entry}"

    # No busy loop: CPU time over a few quiet seconds stays small (a spinning loop would use ~all of it).
    before = cpu_seconds(daemon.pid)
    events.quiet_for(3.0)
    used = cpu_seconds(daemon.pid) - before
    assert used < 1.0, f"the daemon used {used:.2f} s of CPU in 3 s with a vanished project"
    assert daemon.running()
    assert daemon.rpc("server/info")["projects"] == 1
    # Closing it works and the daemon stays healthy.
    daemon.rpc("project/close", {"id": project})
    assert daemon.rpc("project/list") == []
    events.close()


# ---------------------------------------------------------------- broken and slow clients

def _connect(daemon):
    return socket.create_connection(("127.0.0.1", daemon.port), timeout=30)


def test_client_disconnecting_mid_request_and_slowloris_do_not_affect_others(daemon, single_cpp):
    project = open_project(daemon, single_cpp)
    resolve(daemon, "single_cpp")  # waits for the first build
    head = (f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\nAuthorization: Bearer {daemon.token}\r\n"
            "Content-Type: application/json\r\n")
    body = b'{"jsonrpc":"2.0","id":1,"method":"spec/resolve","params":{"name":"single_cpp","python":"' + PYTHON.encode() + b'"}}'

    # Clients that vanish: half a header, half a body, a whole request whose reply nobody reads.
    for cut in ("header", "body", "reply"):
        for _ in range(20):
            s = _connect(daemon)
            if cut == "header":
                s.sendall(head.encode()[:40])
            elif cut == "body":
                s.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
            else:
                s.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
            s.close()

    # Slowloris: connections that dribble a header one byte at a time.
    slow = [_connect(daemon) for _ in range(30)]
    for s in slow:
        s.sendall(b"P")
    try:
        for i in range(20):
            for s in slow:
                try:
                    s.sendall(head.encode()[1 + i: 2 + i])
                except OSError:
                    pass
            # Other clients are served meanwhile.
            spec = resolve(daemon, "single_cpp")
            check_resolved_spec(spec)
            assert daemon.health().status == 200
            time.sleep(0.05)
        # A slow request is cut off by the request timeout (10 s): the server closes it.
        s = slow[0]
        s.settimeout(60)
        closed = False
        try:
            while True:
                data = s.recv(4096)
                if not data:
                    closed = True
                    break
        except (ConnectionResetError, TimeoutError, socket.timeout):
            closed = True
        assert closed
    finally:
        for s in slow:
            s.close()
    assert daemon.running()
    info = daemon.rpc("server/info")
    assert info["projects"] == 1
    assert project_entry(daemon, project)["state"] == "idle"
