"""When the daemon is down, killed mid-reload or restarted: imports prestage does not manage never
notice, a managed import raises an ImportError that names the state dir and how to start a daemon,
the loaded module keeps working, and a restarted daemon is found again."""
import pathlib

from test_first_use import fresh, guarded, run  # noqa: F401 - `fresh` is a fixture
from helpers import FIXTURES, copy_tree


def test_killed_then_restarted_daemon(fresh):
    workspace, env = fresh
    root = copy_tree(FIXTURES / "skbuild_c", workspace / "skbuild_c")
    # The build runs `sleep` while a file named `slow` exists, so a reload can be caught waiting.
    cmake = root / "CMakeLists.txt"
    cmake.write_text(cmake.read_text() + 'add_custom_target(slow_when_asked ALL COMMAND sh -c "test ! -f slow || sleep 60" '
                     'WORKING_DIRECTORY ${CMAKE_SOURCE_DIR} VERBATIM)\n')
    out = run("""
import importlib, json, os, pathlib, signal, subprocess, sys, threading, time
import prestage
ROOT = pathlib.Path(sys.argv[1])
STATE = os.environ["PRESTAGE_STATE_DIR"]
prestage.install()
import skbuild_c
assert skbuild_c.get_num() == 10
assert issubclass(prestage.PrestageError, ImportError) and issubclass(prestage.BuildError, prestage.PrestageError)
assert issubclass(prestage.DaemonUnavailable, ImportError) and issubclass(prestage.BuildTimeout, ImportError)

def daemon_pid():
    return json.loads(pathlib.Path(STATE, "server.json").read_text())["pid"]

def kill_when_building(pid):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(p["state"] == "building" for p in prestage.status()):
            time.sleep(0.3)  # the reload is waiting on the build by now
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.01)

# killed while a reload waits for its build
(ROOT / "slow").write_text("")
source = ROOT / "src" / "native.c"
source.write_text(source.read_text().replace("PyLong_FromLong(10)", "PyLong_FromLong(20)"))
killer = threading.Thread(target=kill_when_building, args=(daemon_pid(),))
killer.start()
try:
    importlib.reload(skbuild_c)
except ImportError as error:
    assert isinstance(error, prestage.DaemonUnavailable), repr(error)
    assert STATE in str(error) and "prestaged --state-dir" in str(error), str(error)
else:
    raise AssertionError("a reload whose daemon was killed must raise")
killer.join()
assert skbuild_c.get_num() == 10, "the loaded module keeps working"

# down: unmanaged imports are untouched, managed ones raise a clear ImportError
import email.mime.text, xml.dom.minidom, unittest.mock  # noqa: E401 - modules nobody imported yet
assert importlib.import_module("json") is json
try:
    importlib.reload(skbuild_c)
except ImportError as error:
    assert isinstance(error, prestage.DaemonUnavailable) and STATE in str(error), str(error)
else:
    raise AssertionError("a managed reload with no daemon must raise")
assert skbuild_c.get_num() == 10

# restarted on the same state dir: the client follows its new server.json
os.remove(ROOT / "slow")
subprocess.Popen([os.environ["PRESTAGE_SERVER"], "--state-dir", STATE], stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, start_new_session=True)
deadline = time.monotonic() + 60
while True:
    try:
        importlib.reload(skbuild_c)
        break
    except prestage.DaemonUnavailable:
        assert time.monotonic() < deadline, "the restarted daemon was not found"
        time.sleep(0.1)
assert skbuild_c.get_num() == 20, "the save made while the daemon was down is built by the new one"
print("OK")
""".replace("sys.argv[1]", repr(str(root))), env, cwd=root)
    assert "OK" in out
