"""The first import as a new user makes it: no daemon is running and the client starts it.

Nothing here starts a daemon first. Each case runs in a fresh interpreter under a timeout that fails
the test instead of hanging it, with faulthandler dumping every thread's stack shortly before."""
import os
import shutil
import subprocess
import textwrap
import time

import pytest

from conftest import server_binary
from helpers import EDIT_FUNCTION, FIXTURES, PYCLIENT, PYTHON, copy_tree
from prestage._client import Client, read_server_json

GUARD_S = 600  # a cold build plus start-up, with room to spare on a loaded machine


@pytest.fixture
def fresh(tmp_path):
    """(workspace, env): a private state dir with no daemon; offline cargo for the workspace."""
    binary = server_binary()
    if binary is None:
        pytest.skip("prestaged is not built")
    (tmp_path / ".cargo").mkdir()
    shutil.copyfile(FIXTURES / "cargo-offline.toml", tmp_path / ".cargo" / "config.toml")
    state = tmp_path / "state"
    env = {**os.environ, "PRESTAGE_STATE_DIR": str(state), "PRESTAGE_SERVER": binary, "PYTHONPATH": str(PYCLIENT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    yield tmp_path, env
    info = read_server_json(state)
    if info is not None:
        try:
            Client(info, state).call("shutdown", timeout=10)
        except Exception:  # noqa: BLE001 - already gone
            pass


def guarded(code):
    return f"import faulthandler\nfaulthandler.dump_traceback_later({GUARD_S - 60}, exit=True)\n" + textwrap.dedent(code)


def spawn(code, env, cwd, args=()):
    return subprocess.Popen([PYTHON, "-c", guarded(code), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process):
    try:
        out, err = process.communicate(timeout=GUARD_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"hung for {GUARD_S} s\n--- stdout\n{out}\n--- stderr\n{err}")
    assert process.returncode == 0, f"exit {process.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"
    return out


def run(code, env, cwd):
    return finish(spawn(code, env, cwd))


FIRST_IMPORT = """
import prestage
prestage.install()
import skbuild_c
print("VALUE", skbuild_c.get_num())
"""


def test_from_inside_the_project_root(fresh):
    workspace, env = fresh
    root = copy_tree(FIXTURES / "skbuild_c", workspace / "skbuild_c")
    assert "VALUE 10" in run(FIRST_IMPORT, env, cwd=root)  # python -c: sys.path[0] is '' (the cwd)


def test_from_a_script_in_the_project_root(fresh):
    workspace, env = fresh
    root = copy_tree(FIXTURES / "skbuild_c", workspace / "skbuild_c")
    (root / "try_it.py").write_text(guarded(FIRST_IMPORT))
    process = subprocess.Popen([PYTHON, "try_it.py"], cwd=root, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # sys.path[0] is the project root
    assert "VALUE 10" in finish(process)


def test_from_a_pth_path_entry(fresh):
    # maturin develop's .pth puts a mixed project's python-source on sys.path
    workspace, env = fresh
    root = copy_tree(FIXTURES / "rw_pyo3", workspace / "rw_pyo3")
    site = workspace / "site"
    site.mkdir()
    (site / "rw_pyo3.pth").write_text(str(root / "python") + "\n")
    out = run("""
import site, sys
site.addsitedir(sys.argv[1])
import prestage
prestage.install()
import rw_pyo3
print("VALUE", rw_pyo3.value(), rw_pyo3.__file__)
""".replace("sys.argv[1]", repr(str(site))), env, cwd=workspace)
    assert "VALUE 0 " in out and str(root) not in out.split("VALUE 0 ")[1], "served from a generation"


def test_from_two_threads_at_once(fresh):
    workspace, env = fresh
    root = copy_tree(FIXTURES / "skbuild_c", workspace / "skbuild_c")
    out = run("""
import threading
import prestage
results, errors = [], []
def first_use():
    try:
        prestage.install()
        import skbuild_c
        results.append(skbuild_c.get_num())
    except BaseException as error:  # noqa: BLE001
        errors.append(repr(error))
threads = [threading.Thread(target=first_use) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert not errors, errors
print("VALUES", results)
""", env, cwd=root)
    assert "VALUES [10, 10]" in out


def test_from_a_second_process_while_the_first_starts_the_daemon(fresh):
    workspace, env = fresh
    root = copy_tree(FIXTURES / "skbuild_c", workspace / "skbuild_c")
    processes = [spawn(FIRST_IMPORT, env, cwd=root) for _ in range(2)]
    outputs = [finish(process) for process in processes]
    assert all("VALUE 10" in out for out in outputs), outputs
    log = (workspace / "state" / "prestaged.log").read_text()
    assert log.count("listening on") == 1, f"exactly one daemon started:\n{log}"


def test_import_waits_for_the_daemon_another_client_is_starting(fresh):
    # A client that finds the autostart lock held waits for that start, then uses that daemon.
    workspace, env = fresh
    state = workspace / "state"
    state.mkdir(mode=0o700)
    import fcntl

    with open(state / "autostart.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        process = spawn("""
import prestage
client = prestage.connect()
print("PORT", client.port)
""", env, cwd=workspace)
        time.sleep(0.5)
        assert process.poll() is None, "the client did not wait for the lock"
        daemon = subprocess.Popen([env["PRESTAGE_SERVER"], "--state-dir", str(state)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while read_server_json(state) is None:
            assert time.monotonic() < deadline and daemon.poll() is None, "the daemon did not start"
            time.sleep(0.05)
    out = finish(process)
    assert f"PORT {read_server_json(state)['port']}" in out


def test_a_reload_right_after_the_first_build_uses_the_daemons_pybind11_helper(fresh):
    # On a fresh state dir the daemon starts compiling its pybind11 helper as soon as the first build
    # is past its configure (beside the project's compile); a reload asked before it is ready waits
    # for it instead of compiling one in the client (seconds).
    workspace, env = fresh
    root = copy_tree(FIXTURES / "cmake_pkg", workspace / "cmake_pkg")
    out = run(EDIT_FUNCTION + """
import importlib, pathlib, time
import prestage
from prestage import _pybind11
prestage.install()
import cmake_pkg
old = cmake_pkg.Integer(3)
edit("src/core.cpp", "return 10;", "return 20;")
importlib.reload(cmake_pkg)
print("VALUE", cmake_pkg.get_num(), "OLD", old.value, "CLIENT_COMPILED", _pybind11._cache)
""", env, cwd=root)
    assert "VALUE 20 OLD 3 CLIENT_COMPILED {}" in out, out
    helpers = list((workspace / "state" / "pybind11-helper").glob("*/_prestage_pybind11*.so"))
    assert len(helpers) == 1 and "-" in helpers[0].parent.name, f"only the daemon's helper (python key-hash): {helpers}"
    started = (helpers[0].parent / "prestage_pybind11.cpp").stat().st_mtime_ns
    first_generation = min(path.stat().st_mtime_ns for path in (workspace / "state" / "projects").glob("*/*/gen-1"))
    assert started < first_generation, "the helper's compile starts during the first build, not after it is staged"
