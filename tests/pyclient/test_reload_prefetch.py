"""What the push thread readies for a reload, and what a reload asks the daemon. An import or reload
of a managed module asks once, with `sync`, on the importing thread (so it reads your writes), unless
the daemon's change page shows nothing changed since the answer it holds: then it asks nothing. When
a build finishes, the push thread fetches the next reload's answer and prepares its code object, so
that reload neither asks nor compiles. Without the push channel every reload asks. Real prestaged,
real builds."""
from test_daemon_reload import PROLOGUE, opened, scenario  # noqa: F401 - `opened` is a fixture

COUNTING = PROLOGUE + """
import builtins, threading
finder = prestage.install()
assert prestage._push.connected.wait(60), "the push channel did not connect"
rpc_calls = []
_send = finder.client.send
def counting_send(body, method, timeout=60.0, **kwargs):
    if method == "spec/resolve" and threading.current_thread() is threading.main_thread():
        rpc_calls.append(json.loads(body)["params"])
    return _send(body, method, timeout, **kwargs)
finder.client.send = counting_send

compiled = []
_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    if threading.current_thread() is threading.main_thread():
        compiled.append(filename)
    return _compile(source, filename, *args, **kwargs)
builtins.compile = counting_compile

def reload_counting(module):
    rpc_calls.clear()
    compiled.clear()
    importlib.reload(module)
    return [(params["name"], params.get("sync")) for params in rpc_calls]

def wait_prepared(name, generation, timeout=120):
    deadline = time.monotonic() + timeout
    while not any(f"gen-{generation}" in origin for origin in (finder.state.prepared_code.get(name) or ("",))[:1]):
        assert time.monotonic() < deadline, f"the push thread prepared no code for generation {generation}"
        time.sleep(0.02)
"""


def test_round_trips_per_reload_and_prepared_code(daemon, opened):
    root = opened("cmake_pkg")
    result = scenario(daemon, COUNTING + """
assert finder._change_page is not None, "the daemon handed out no change page"
import cmake_pkg
# Round trips are counted once the daemon's pybind11 helper is ready: until then a reload of pybind11
# classes makes one more ask, which waits for the helper (test_first_use).
helper_deadline = time.monotonic() + 300
while not prestage.connect().call("spec/resolve", {"name": "cmake_pkg", "python": sys.executable}).get("pybind11_helper"):
    assert time.monotonic() < helper_deadline, "the daemon's pybind11 helper never became ready"
    time.sleep(0.1)
core_before = cmake_pkg._core
cmake_pkg.increment()
assert reload_counting(cmake_pkg) == [("cmake_pkg", True)], "the first reload asks, with sync"
assert reload_counting(cmake_pkg) == [], "nothing changed since that answer: no round trip"
assert cmake_pkg._core is core_before and cmake_pkg.counter() == 1, "unchanged: extension state kept"
assert compiled == [], "an unchanged reload reuses the code object"

source = pathlib.Path(ROOT, "src", "core.cpp")
source.write_bytes(source.read_bytes())  # a save of the same bytes: asks (the queue is not empty), no build
assert reload_counting(cmake_pkg) == [("cmake_pkg", True)]
assert cmake_pkg._core is core_before

project = change("cmake_pkg", source, "return 10;", "return 20;")
generation = project["last_build"]["generation"]
wait_prepared("cmake_pkg", generation)
deadline = time.monotonic() + 60
while f"gen-{generation}" not in (finder.state.preloaded.get("cmake_pkg._core") or ("",))[0]:
    assert time.monotonic() < deadline, "the push thread did not map the rebuilt extension ahead of the reload"
    time.sleep(0.02)
preloaded = finder.state.preloaded["cmake_pkg._core"][0]
assert preloaded in pathlib.Path("/proc/self/maps").read_text(), "mapped before any reload asked for it"
assert cmake_pkg.get_num() == 10, "mapping it ran no PyInit: the old code is still what the module has"
assert reload_counting(cmake_pkg) == [], "the push thread's answer is current: no round trip"
assert cmake_pkg._core.__file__ == preloaded, "the reload loaded the file the push thread mapped"
assert compiled == [], ("the push thread prepared the code object", compiled)
assert cmake_pkg.get_num() == 20 and cmake_pkg.counter() == 0
assert pathlib.Path(cmake_pkg.__file__).parent.parent.name == f"gen-{generation}"
code = cmake_pkg.py_value.__code__
assert code.co_filename == cmake_pkg.__file__, (code.co_filename, "reused code must name the new generation's file")

edit(source, "return 20;", "return 30;")  # saved right before the reload: one syncing ask, then it waits
calls = reload_counting(cmake_pkg)
assert calls[0] == ("cmake_pkg", True) and all(sync is False for _, sync in calls[1:]), calls
assert cmake_pkg.get_num() == 30
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK"), result.stdout


def test_reads_your_writes_without_the_push_channel(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, COUNTING + """
import pyo3_pure
push = prestage._push
push.close()  # no more events: correctness must not depend on them
push._thread.join(30)
assert not push.connected.is_set()
pyo3_pure.increment()
assert reload_counting(pyo3_pure) == [("pyo3_pure", True)] and pyo3_pure.counter() == 1

edit(pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    20\\n")
importlib.reload(pyo3_pure)
assert pyo3_pure.get_num() == 20 and pyo3_pure.counter() == 0

edit(pathlib.Path(ROOT, "src", "lib.rs"), "    20\\n", "    20 +\\n")
try:
    importlib.reload(pyo3_pure)
except prestage.BuildError as error:
    assert isinstance(error, ImportError) and "lib.rs" in str(error), str(error)
else:
    raise AssertionError("the reload right after a broken save must report its failed build")
assert pyo3_pure.get_num() == 20, "the old module keeps working"
edit(pathlib.Path(ROOT, "src", "lib.rs"), "    20 +\\n", "    30\\n")
importlib.reload(pyo3_pure)
assert pyo3_pure.get_num() == 30
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK"), result.stdout
