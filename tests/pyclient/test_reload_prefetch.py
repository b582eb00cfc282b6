"""Reloads served from the spec the push thread prefetched on build/finished, and every way that
cache must step aside: a build the push has not announced yet, a running build, a dropped push
connection. Real prestaged, real builds; each scenario in a clean interpreter."""
from test_daemon_reload import PROLOGUE, opened, scenario  # noqa: F401 - `opened` is a fixture

# Counts the spec/resolve round trips the importing thread makes (the prefetch has its own connection).
COUNTING = PROLOGUE + """
import threading
finder = prestage.install()
assert prestage._push.connected.wait(60), "the push channel did not connect"
rpc_calls = []
_call = finder.client.call
def counting_call(method, params=None, timeout=60.0):
    if method == "spec/resolve":
        rpc_calls.append(params.get("name"))
    return _call(method, params, timeout)
finder.client.call = counting_call

def wait_cached(name, generation, timeout=120):
    deadline = time.monotonic() + timeout
    while finder.specs.cached_generation(name) != generation:
        if time.monotonic() > deadline:
            raise AssertionError(f"no prefetched spec of {name} for generation {generation} "
                                 f"(cached: {finder.specs.cached_generation(name)}, misses: {finder.specs.misses})")
        time.sleep(0.02)

def reload_counting(module):
    rpc_calls.clear()
    importlib.reload(module)
    return list(rpc_calls)

# Holds the push thread on events for which held(method) is true, as a busy process would;
# the returned Event lets them through.
def hold_push_events(held):
    release = threading.Event()
    forward = prestage._push._on_event
    def delayed(method, params):
        if held(method):
            release.wait(600)
        forward(method, params)
    prestage._push._on_event = delayed
    return release

def wait_stale(name, why, timeout=120):
    deadline = time.monotonic() + timeout
    while finder.specs.cached_generation(name) is not None:
        assert time.monotonic() < deadline, why
        time.sleep(0.005)
"""


def test_changed_and_unchanged_reload_served_from_prefetched_spec(daemon, opened):
    root = opened("cmake_pkg")
    result = scenario(daemon, COUNTING + """
import cmake_pkg
importlib.reload(cmake_pkg)  # answered by the daemon if a projects/changed came after the import
core_before = cmake_pkg._core
cmake_pkg._core.data["key"] = "value"
cmake_pkg.increment()

# unchanged: no round trip, extension state kept
assert reload_counting(cmake_pkg) == []
assert cmake_pkg._core is core_before and cmake_pkg._core.data == {"key": "value"} and cmake_pkg.counter() == 1

project = change("cmake_pkg", pathlib.Path(ROOT, "src", "core.cpp"), "return 10;", "return 20;")
generation = project["last_build"]["generation"]
wait_cached("cmake_pkg", generation)
hits = finder.specs.hits
assert reload_counting(cmake_pkg) == [], "the changed reload used the prefetched spec"
assert finder.specs.hits == hits + 1
assert cmake_pkg.get_num() == 20 and cmake_pkg.counter() == 0, "new code, fresh extension globals"
assert cmake_pkg._core is not core_before and cmake_pkg._core.data == {}
assert finder.state.generation_by_module["cmake_pkg"] == generation
assert pathlib.Path(cmake_pkg.__file__).parent.parent.name == f"gen-{generation}"
code = cmake_pkg.py_value.__code__
assert code.co_filename == cmake_pkg.__file__, (code.co_filename, "reused code must name the new generation's file")

# unchanged again, on the new generation
cmake_pkg.increment()
assert reload_counting(cmake_pkg) == [] and cmake_pkg.counter() == 1 and cmake_pkg.get_num() == 20
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def test_reload_before_build_finished_arrives_loads_the_published_generation(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, COUNTING + """
import pyo3_pure
project = change("pyo3_pure", pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    15\\n")
old_generation = project["last_build"]["generation"]
wait_cached("pyo3_pure", old_generation)  # prefetched: a reload would only stat the generations directory
assert reload_counting(pyo3_pure) == [] and pyo3_pure.get_num() == 15

# Hold build events and project/state on the push thread, as a busy or preempted process would.
release = hold_push_events(lambda method: method.startswith("build/") or method == "project/state")

project = change("pyo3_pure", pathlib.Path(ROOT, "src", "lib.rs"), "    15\\n", "    20\\n")
generation = project["last_build"]["generation"]
assert generation > old_generation
assert finder.specs.cached_generation("pyo3_pure") == old_generation, "the push has told this process nothing yet"
calls = reload_counting(pyo3_pure)
assert pyo3_pure.get_num() == 20, "the daemon published a new generation: the reload must not load the old one"
assert calls == ["pyo3_pure"], calls
assert finder.specs.misses.get("newer generation on disk") == 1, finder.specs.misses
assert finder.state.generation_by_module["pyo3_pure"] == generation

release.set()
wait_cached("pyo3_pure", generation)
pyo3_pure.increment()
assert reload_counting(pyo3_pure) == [] and pyo3_pure.counter() == 1 and pyo3_pure.get_num() == 20
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def test_reload_while_the_build_runs_waits_for_it(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, COUNTING + """
import pyo3_pure
importlib.reload(pyo3_pure)
assert reload_counting(pyo3_pure) == []

# Let build/started through, hold build/finished: the reload sees a build running.
release = hold_push_events(lambda method: method == "build/finished")

before = project_of("pyo3_pure")["last_build"]
edit(pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    20\\n")
wait_stale("pyo3_pure", "build/started never arrived")
calls = reload_counting(pyo3_pure)
assert calls and set(calls) == {"pyo3_pure"}, calls  # one call per second of waiting
assert pyo3_pure.get_num() == 20, "a reload during the build waits for it"
assert finder.specs.misses.get("build running") == 1, finder.specs.misses
assert project_of("pyo3_pure")["last_build"] != before
release.set()
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def test_reload_once_the_daemon_saw_a_save_waits_for_its_build(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, COUNTING + """
import pyo3_pure
importlib.reload(pyo3_pure)
generation = finder.state.generation_by_module["pyo3_pure"]
wait_cached("pyo3_pure", generation)

# Hold every build/* event: only project/state ("queued" before the settle delay) tells this
# process that the daemon saw the save and a build is coming.
release = hold_push_events(lambda method: method.startswith("build/"))

edit(pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    25\\n")
wait_stale("pyo3_pure", "project/state never made the cached spec stale")
calls = reload_counting(pyo3_pure)
assert pyo3_pure.get_num() == 25, "the daemon had seen the save: the reload waits for its build"
assert calls and set(calls) == {"pyo3_pure"}, calls
assert finder.specs.misses.get("build running") == 1, finder.specs.misses
assert finder.state.generation_by_module["pyo3_pure"] > generation
release.set()
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def test_dropped_push_connection_falls_back_to_the_daemon(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, COUNTING + """
import pyo3_pure
importlib.reload(pyo3_pure)
pyo3_pure.increment()
assert reload_counting(pyo3_pure) == [] and pyo3_pure.counter() == 1

push = prestage._push
push.close()  # no more events: nothing tells this process about builds any more
push._thread.join(30)
assert not push.connected.is_set()
assert reload_counting(pyo3_pure) == ["pyo3_pure"], "without the push channel every reload asks the daemon"
assert pyo3_pure.counter() == 1, "unchanged: extension state kept"
assert finder.specs.misses.get("push channel not connected", 0) >= 1, finder.specs.misses

# A failed build publishes no generation: only the daemon can tell.
project = change("pyo3_pure", pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    10 +\\n")
assert project["last_build"]["ok"] is False
try:
    importlib.reload(pyo3_pure)
except prestage.BuildError as error:
    assert "lib.rs" in str(error), str(error)
else:
    raise AssertionError("the reload must report the failed build")
assert pyo3_pure.get_num() == 10 and pyo3_pure.counter() == 1, "the old module keeps working"
change("pyo3_pure", pathlib.Path(ROOT, "src", "lib.rs"), "    10 +\\n", "    20\\n")
assert reload_counting(pyo3_pure) == ["pyo3_pure"] and pyo3_pure.get_num() == 20
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def test_reconnected_push_channel_prefetches_again(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, COUNTING + """
import pyo3_pure
importlib.reload(pyo3_pure)
pyo3_pure.increment()
assert reload_counting(pyo3_pure) == []
generation = finder.state.generation_by_module["pyo3_pure"]
sessions = finder.specs._sessions

push = prestage._push
push._socket.shutdown(__import__("socket").SHUT_RDWR)  # the daemon went away for a moment
deadline = time.monotonic() + 60
while finder.specs._sessions == sessions or not push.connected.is_set():
    assert time.monotonic() < deadline, "the push channel did not reconnect"
    time.sleep(0.01)
# Events may have been missed meanwhile: the new session starts empty, then prefetches.
wait_cached("pyo3_pure", generation)
assert reload_counting(pyo3_pure) == [] and pyo3_pure.counter() == 1

project = change("pyo3_pure", pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    20\\n")
wait_cached("pyo3_pure", project["last_build"]["generation"])
assert reload_counting(pyo3_pure) == [] and pyo3_pure.get_num() == 20 and pyo3_pure.counter() == 0
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")
