"""Read-your-writes: a reload, an import or wait_idle() made right after a write sees that write.

Each scenario writes a new value into a source and reloads on the very next line, LOOPS times, in a
fresh interpreter against the real daemon and real builds, and counts the reloads that returned an
older value: there must be none. The fixtures keep each rebuild small (tests/fixtures/README.md)."""
import os

from test_daemon_reload import PROLOGUE, opened, scenario  # noqa: F401 - `opened` is a fixture

LOOPS = int(os.environ.get("PRESTAGE_RYW_LOOPS", "200"))

LOOP = """
prestage.install()
{setup}
source = pathlib.Path(SOURCE)
template = source.read_text()
assert OLD in template, OLD
stale = []
for i in range(1, int(LOOPS) + 1):
    source.write_text(template.replace(OLD, NEW.format(i=i), 1))
    importlib.reload({module})
    got = {read}
    if got != i:
        stale.append((i, got))
print("STALE", len(stale), "of", LOOPS, stale[:5])
assert not stale, stale[:5]
print("OK")
"""


def run_loop(daemon, source, module, read, old, new, setup=""):
    body = PROLOGUE + LOOP.format(setup=setup, module=module, read=read)
    result = scenario(daemon, body, SOURCE=source, OLD=old, NEW=new, LOOPS=LOOPS)
    assert result.stdout.strip().endswith("OK"), result.stdout
    assert f"STALE 0 of {LOOPS}" in result.stdout


def test_cmake_pybind11_package(daemon, opened):
    root = opened("rw_cmake")
    run_loop(daemon, root / "src" / "value.cpp", "rw_cmake", "rw_cmake.value()",
             "int rw_value() { return 0; }", "int rw_value() {{ return {i}; }}", setup="import rw_cmake")


def test_pyo3_package(daemon, opened):
    root = opened("rw_pyo3")
    run_loop(daemon, root / "src" / "lib.rs", "rw_pyo3", "rw_pyo3.value()",
             "fn value() -> i64 {\n    0\n}", "fn value() -> i64 {{\n    {i}\n}}", setup="import rw_pyo3")


def test_single_cpp(daemon, opened):
    source = opened("single/rw_single.cpp", open_project=False)
    run_loop(daemon, source, "rw_single", "rw_single.value()", "PyLong_FromLong(0)", "PyLong_FromLong({i})",
             setup="sys.path.insert(0, str(pathlib.Path(SOURCE).parent))\nimport rw_single")


def test_single_rs(daemon, opened):
    source = opened("single/rw_single_rs.rs", open_project=False)
    run_loop(daemon, source, "rw_single_rs", "rw_single_rs.value()",
             "fn value() -> i64 {\n    0\n}", "fn value() -> i64 {{\n    {i}\n}}",
             setup="sys.path.insert(0, str(pathlib.Path(SOURCE).parent))\nimport rw_single_rs")


def test_wait_idle_right_after_a_write(daemon, opened):
    source = opened("single/rw_single.cpp")
    result = scenario(daemon, PROLOGUE + """
source = pathlib.Path(SOURCE)
template = source.read_text()
project = project_of("rw_single")
client = prestage.connect()
stale = []
for i in range(1, int(LOOPS) + 1):
    source.write_text(template.replace('"rw-mark-0"', f'"rw-mark-{i}"', 1))
    listed = prestage.wait_idle(timeout=300)
    entry = next(p for p in listed if p["id"] == project["id"])
    newest = client.call("generation/list", {"id": project["id"]})[0]
    # The staged file is not loaded: its bytes hold the C string of the mark it was built from.
    data = pathlib.Path(newest["artifacts"][0]["path"]).read_bytes()
    if entry["state"] != "idle" or entry["generation"] != newest["generation"] or f"rw-mark-{i}\\0".encode() not in data:
        stale.append(i)
print("STALE", len(stale), "of", LOOPS, stale[:5])
assert not stale
print("OK")
""", SOURCE=source, LOOPS=LOOPS)
    assert result.stdout.strip().endswith("OK"), result.stdout


def test_a_write_that_changes_nothing_does_not_build(daemon, opened):
    root = opened("rw_cmake")
    result = scenario(daemon, PROLOGUE + """
prestage.install()
assert prestage._push.connected.wait(60)
import rw_cmake
started = []
forward = prestage._push._on_event
def counting(method, params):
    if method == "build/started":
        started.append(params["project"])
    forward(method, params)
prestage._push._on_event = counting
project = project_of("rw_cmake")
core = rw_cmake._core
source = pathlib.Path(ROOT, "src", "value.cpp")
text = source.read_bytes()
for _ in range(20):
    source.write_bytes(text)  # the same bytes: an event, a rehash, no build
    importlib.reload(rw_cmake)
    assert rw_cmake._core is core, "nothing changed: the extension keeps its module"
after = project_of("rw_cmake")
assert after["generation"] == project["generation"] and after["last_build"] == project["last_build"]
assert project["id"] not in started, "a write of the same bytes started a build"
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK"), result.stdout
