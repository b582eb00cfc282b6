"""Command line, state directory, discovery file and clean exits."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import REPO, SERVER, check_reply
from schema_check import validate

RUN_GUARD_S = 30


def run_server(*args, env=None):
    if not SERVER.is_file():
        pytest.fail(f"prestaged binary not found at {SERVER}; build it or set PRESTAGE_SERVER")
    return subprocess.run([str(SERVER), *args], capture_output=True, text=True, timeout=RUN_GUARD_S, env=env,
                          stdin=subprocess.DEVNULL)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PRESTAGE_STATE_DIR", "XDG_RUNTIME_DIR")}
    env.update(extra)
    return env


def test_help_lists_every_option():
    result = run_server("--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    for option in ("--state-dir", "--port", "--log-level", "--version", "--help"):
        assert option in text, f"--help does not mention {option}:\n{text}"


def test_version_prints_the_project_version():
    result = run_server("--version")
    assert result.returncode == 0, result.stderr
    # The CMake project() line is the single source of the version number.
    version = re.search(r"project\(prestage VERSION (\S+)", (REPO / "CMakeLists.txt").read_text()).group(1)
    assert version in result.stdout, result.stdout


def test_version_matches_server_json_and_health(daemon):
    result = run_server("--version")
    assert daemon.info["version"] in result.stdout
    assert daemon.health().json()["version"] == daemon.info["version"]


def test_unknown_option_is_refused_by_name(tmp_path):
    result = run_server("--state-dir", str(tmp_path / "s"), "--frobnicate")
    assert result.returncode != 0
    assert "--frobnicate" in result.stdout + result.stderr
    assert not (tmp_path / "s" / "server.json").exists()


def test_bad_port_is_refused_by_name(tmp_path):
    result = run_server("--state-dir", str(tmp_path / "s"), "--port", "not-a-port")
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "port" in text.lower() and "not-a-port" in text, text


def test_port_option_is_used(start_daemon):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    d = start_daemon(args=["--port", str(port)])
    assert d.port == port
    assert d.health().status == 200


def test_port_defaults_to_an_ephemeral_port(daemon):
    assert daemon.port > 0
    assert daemon.health().status == 200


# ---------------------------------------------------------------- state dir precedence

def _precedence_dirs(tmp_path):
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir(mode=0o700)
    return {"flag": tmp_path / "flag-state", "env": tmp_path / "env-state", "xdg": xdg / "prestage",
            "home": home / ".cache" / "prestage"}, home, xdg


@pytest.mark.parametrize("winner", ["flag", "env", "xdg", "home"])
def test_state_dir_precedence(start_daemon, tmp_path, winner):
    dirs, home, xdg = _precedence_dirs(tmp_path)
    env = clean_env(HOME=str(home))
    order = ["flag", "env", "xdg", "home"]
    available = order[order.index(winner):]
    if "env" in available:
        env["PRESTAGE_STATE_DIR"] = str(dirs["env"])
    if "xdg" in available:
        env["XDG_RUNTIME_DIR"] = str(xdg)
    d = start_daemon(state_dir=dirs[winner], env=env, use_state_dir_flag=(winner == "flag"))
    assert d.server_json_path.is_file()
    for other, path in dirs.items():
        if other != winner:
            assert not (path / "server.json").exists(), f"{other} dir used although {winner} should win"
    info = d.rpc("server/info")
    assert os.path.realpath(info["state_dir"]) == os.path.realpath(dirs[winner])


def test_state_dir_is_created_0700(start_daemon, tmp_path):
    state = tmp_path / "fresh" / "state"
    d = start_daemon(state_dir=state)
    mode = stat.S_IMODE(os.stat(state).st_mode)
    assert mode == 0o700, oct(mode)
    assert d.health().status == 200


@pytest.mark.parametrize("mode,problem", [(0o770, "group"), (0o707, "world"), (0o777, "world")])
def test_refuses_group_or_world_writable_state_dir(start_daemon, tmp_path, mode, problem):
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, mode)
    d = start_daemon(state_dir=state, wait=False)
    code = d.wait_exit()
    assert code != 0
    text = d.log()
    assert "writable" in text.lower(), f"refusal does not name the problem:\n{text}"
    assert str(state) in text, f"refusal does not name the directory:\n{text}"
    assert not (state / "server.json").exists()
    assert stat.S_IMODE(os.stat(state).st_mode) == mode, "the daemon must refuse, not silently fix the mode"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_refuses_state_dir_owned_by_another_user(start_daemon, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)  # nobody
    d = start_daemon(state_dir=state, wait=False)
    code = d.wait_exit()
    assert code != 0
    text = d.log()
    assert "own" in text.lower(), f"refusal does not name the problem (owner):\n{text}"
    assert str(state) in text, f"refusal does not name the directory:\n{text}"
    assert not (state / "server.json").exists()


# ---------------------------------------------------------------- single instance

def test_second_instance_exits_naming_pid_and_port(start_daemon, tmp_path):
    first = start_daemon()
    before = first.server_json_path.read_text()
    second = start_daemon(state_dir=first.state_dir, wait=False)
    assert second.wait_exit() != 0
    text = second.log()
    assert str(first.pid) in text, f"second instance does not name the running pid {first.pid}:\n{text}"
    assert str(first.port) in text, f"second instance does not name the running port {first.port}:\n{text}"
    assert first.server_json_path.read_text() == before, "second instance touched server.json"
    assert first.health().status == 200
    assert first.rpc("server/info")["pid"] == first.pid


# ---------------------------------------------------------------- server.json

def test_server_json_fields_and_mode(daemon):
    info = json.loads(daemon.server_json_path.read_text())
    validate(info, "server.json.schema.json")
    assert set(info) == {"pid", "port", "token", "version", "started_at"}
    assert info["pid"] == daemon.proc.pid
    assert len(bytes.fromhex(info["token"])) >= 32
    assert stat.S_IMODE(os.stat(daemon.server_json_path).st_mode) == 0o600
    server_info = daemon.rpc("server/info")
    assert server_info["pid"] == info["pid"] and server_info["port"] == info["port"]
    assert server_info["started_at"] == info["started_at"]


def test_tokens_differ_between_runs(start_daemon, tmp_path):
    a = start_daemon(state_dir=tmp_path / "a")
    b = start_daemon(state_dir=tmp_path / "b")
    assert a.token != b.token


def test_server_json_appears_atomically(start_daemon, tmp_path):
    """Polled as fast as possible during start-up: server.json is either absent or complete."""
    state = tmp_path / "state"
    torn = []
    seen = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                text = (state / "server.json").read_text()
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                seen.append(json.loads(text))
            except json.JSONDecodeError:
                torn.append(text)

    watcher = threading.Thread(target=poll)
    watcher.start()
    try:
        d = start_daemon(state_dir=state)
        deadline = time.monotonic() + 10  # on a loaded machine the poller may not have run yet
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        watcher.join()
    assert not torn, f"read a partial server.json: {torn[:3]}"
    assert seen and seen[-1]["pid"] == d.pid
    leftovers = [p.name for p in state.iterdir() if "tmp" in p.name.lower() or p.name.endswith("~")]
    assert not leftovers, f"temp files left in the state dir: {leftovers}"


# ---------------------------------------------------------------- clean exits

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_cleanly_and_removes_server_json(start_daemon, sig):
    d = start_daemon()
    assert d.stop(sig) == 0, d.log()
    assert not d.server_json_path.exists()
    again = start_daemon(state_dir=d.state_dir)  # lock released
    assert again.health().status == 200


def test_shutdown_method_exits_cleanly(start_daemon):
    d = start_daemon()
    reply = d.call("shutdown")
    check_reply(reply, "shutdown")
    assert reply["result"] is None
    assert d.wait_exit() == 0, d.log()
    assert not d.server_json_path.exists()
    again = start_daemon(state_dir=d.state_dir)
    assert again.health().status == 200
