"""Reload scenarios against the real prestaged, real builds, each in a clean interpreter."""
import json
import subprocess
import sys
import uuid

import pytest

from helpers import EDIT_FUNCTION, run_python

PROLOGUE = """
import importlib, json, os, pathlib, pickle, sys, time
import prestage

""" + EDIT_FUNCTION + """
def project_of(name, path=None):  # the one open project providing `name` (and holding `path`)
    found = [project for project in prestage.status() if name in project["modules"]]
    if path is not None:
        path = os.path.realpath(path)
        found = [p for p in found if path == p["root"] or path.startswith(p["root"].rstrip("/") + "/")]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} open projects provide {name}: {[p['root'] for p in found]}")
    return found[0]

def wait_build(name, before, path=None, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = project_of(name, path)
        if project["state"] == "idle" and project["last_build"] != before:
            return project
        time.sleep(0.05)
    raise AssertionError(f"no new build of {name} within {timeout} s; last seen: {json.dumps(project)}")

def change(name, path, old, new):
    before = project_of(name, path)["last_build"]
    edit(path, old, new)
    return wait_build(name, before, path)
"""


@pytest.fixture
def opened(daemon):
    """Factory: copies a fixture into a unique workspace dir, opens it, waits for its first build."""
    roots = []

    def open_fixture(relative, *, build=True, open_project=True):
        parent = daemon.workspace / uuid.uuid4().hex[:8]
        parent.mkdir()
        root = daemon.open_copy(relative, name=f"{parent.name}/{relative.split('/')[-1]}")
        roots.append(root)
        if open_project:
            project = daemon.open(root)
            if build:
                daemon.wait_built(project["id"])
        return root

    yield open_fixture
    for root in roots:
        try:
            daemon.client.call("project/close", {"root": str(root)})
        except Exception:  # noqa: BLE001 - never opened (auto-open failed) is fine here
            pass


def scenario(daemon, body, **values):
    constants = "".join(f"{key} = {json.dumps(str(value))}\n" for key, value in values.items())
    try:
        return run_python(PROLOGUE + constants + body, env=daemon.env, timeout=1800)
    except (AssertionError, subprocess.TimeoutExpired) as error:
        raise AssertionError(f"{error}\n--- the daemon's log, last lines\n{daemon.log_text()}") from None


def test_maturin_mixed_package_reload(daemon, opened):
    root = opened("maturin_mixed")
    result = scenario(daemon, """
prestage.install()
import maturin_mixed
import maturin_mixed._native as native_alias
import maturin_mixed.other_module as other
from maturin_mixed import get_num as bound_get_num
assert maturin_mixed.get_num() == 10 and other.doubled() == 20
assert maturin_mixed.increment() == 1 and maturin_mixed.increment() == 2
maturin_mixed._native.added_later = "kept"
maturin_mixed.user_attribute = "kept"

# nothing changed: the extension keeps its globals and later attributes
assert importlib.reload(maturin_mixed) is maturin_mixed
assert maturin_mixed._native is native_alias and maturin_mixed.counter() == 2
assert maturin_mixed._native.added_later == "kept"

old_file = maturin_mixed.__file__
change("maturin_mixed", pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    20\\n")
importlib.reload(maturin_mixed)
assert maturin_mixed.get_num() == 20 and maturin_mixed._native.get_num() == 20
assert maturin_mixed.counter() == 0, "a rebuilt extension starts with fresh globals"
assert bound_get_num() == 10 and native_alias.get_num() == 10, "names bound before keep the old code"
assert maturin_mixed.user_attribute == "kept", "the package namespace survives"
assert maturin_mixed.__file__ != old_file and maturin_mixed.__file__.startswith(maturin_mixed.__path__[0])
assert not maturin_mixed.__file__.startswith(ROOT), "__file__ points into the generation"
assert other.doubled() == 20, "other_module is not reloaded"
importlib.reload(other)
assert other.doubled() == 40, "once reloaded, other_module sees the new extension"
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def test_pyo3_pure_reload_with_class(daemon, opened):
    root = opened("pyo3_pure")
    result = scenario(daemon, """
prestage.install()
import pyo3_pure
import pyo3_pure as alias
from pyo3_pure import Integer as OldInteger
old = pyo3_pure.Integer(3)
pyo3_pure.increment()
change("pyo3_pure", pathlib.Path(ROOT, "src", "lib.rs"), "    10\\n", "    20\\n")
importlib.reload(pyo3_pure)
assert pyo3_pure.get_num() == 20 and alias.get_num() == 20
assert pyo3_pure.counter() == 0
new = pyo3_pure.Integer(4)
assert type(new) is pyo3_pure.Integer and pyo3_pure.Integer is not OldInteger, "new objects get the new class"
assert old.doubled() == 6 and OldInteger(5).doubled() == 10, "objects of old classes keep working"
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


def _globalise_classes(core_cpp):
    """Moves the fixture's classes out of the anonymous namespace, so a second copy collides in
    pybind11's registry (`generic_type: type "Integer" is already registered!`) unless the helper works."""
    text = core_cpp.read_text()
    text = text.replace("namespace {", "namespace cmake_pkg_impl {", 1)
    text = text.replace("}  // namespace", "}  // namespace cmake_pkg_impl\nusing namespace cmake_pkg_impl;", 1)
    core_cpp.write_text(text)


def test_cmake_pkg_reload_pickle_and_subpackage(daemon, opened):
    root = opened("cmake_pkg", open_project=False)
    _globalise_classes(root / "src" / "core.cpp")
    daemon.wait_built(daemon.open(root)["id"])
    result = scenario(daemon, """
prestage.install()
import cmake_pkg
import cmake_pkg.subpkg
import cmake_pkg.other_module as other
from cmake_pkg import Integer as OldInteger, get_num as bound_get_num
old = cmake_pkg.Integer(3)
pickled = pickle.dumps(old)
cmake_pkg._core.data["key"] = "value"
cmake_pkg._core.added_later = 1
cmake_pkg.increment()
core_before = cmake_pkg._core
sub_before = cmake_pkg.subpkg._sub

importlib.reload(cmake_pkg)  # unchanged: module dict, attributes and C++ globals kept
assert cmake_pkg._core is core_before and cmake_pkg._core.data == {"key": "value"}
assert cmake_pkg._core.added_later == 1 and cmake_pkg.counter() == 1

change("cmake_pkg", pathlib.Path(ROOT, "src", "core.cpp"), "return 10;", "return 20;")
importlib.reload(cmake_pkg)
assert cmake_pkg.get_num() == 20 and bound_get_num() == 10
assert cmake_pkg.counter() == 0 and cmake_pkg._core.data == {}, "rebuilt extension: fresh globals and dict"
new = cmake_pkg.Integer(4)
assert type(new) is cmake_pkg.Integer and cmake_pkg.Integer is not OldInteger
assert type(old) is OldInteger and old.value == 3
old.value = 8
assert old.value == 8 and OldInteger(2).value == 2, "old instances and old names still work"
restored = pickle.loads(pickled)
assert type(restored) is cmake_pkg.Integer and restored.value == 3, "old pickle unpickles as the new type"
assert cmake_pkg.subpkg._sub is sub_before, "unchanged subpackage extension kept"
assert other.doubled() == 20
importlib.reload(other)
assert other.doubled() == 40

change("cmake_pkg", pathlib.Path(ROOT, "src", "sub.cpp"), "return 5;", "return 6;")
importlib.reload(cmake_pkg.subpkg)
assert cmake_pkg.subpkg.sub_value() == 6, "an extension in a subpackage reloads with its subpackage"
assert cmake_pkg.get_num() == 20
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK")


SINGLE_FILE_SCENARIO = """
prestage.install()
sys.path.insert(0, str(pathlib.Path(SOURCE).parent))
import {name}
import {name} as alias
from {name} import get_num as bound_get_num
original_file = {name}.__file__
{name}.added_later = "kept"
assert {name}.get_num() == 10
assert {name}.increment() == 1 and {name}.increment() == 2
change("{name}", SOURCE, "{old}", "{new}")
assert importlib.reload({name}) is {name} and sys.modules["{name}"] is {name}
assert {name}.get_num() == 20 and alias.get_num() == 20, "every holder sees the new code"
assert bound_get_num() == 10
assert {name}.increment() == 1, "load-time state is reset"
assert {name}.added_later == "kept", "attributes added after loading survive"
assert {name}.__file__ == original_file, "__file__ stays stable"
importlib.reload({name})
assert {name}.increment() == 1, "reset on every reload, even without a change"
print("OK")
"""


def test_single_cpp_auto_opened_from_sys_path(daemon, opened):
    source = opened("single/single_cpp.cpp", open_project=False)
    result = scenario(daemon, SINGLE_FILE_SCENARIO.format(name="single_cpp", old="return 10;", new="return 20;"), SOURCE=source)
    assert result.stdout.strip().endswith("OK")
    assert result.stderr.count("prestage: waiting for the build") <= 1


def test_single_rs_reload(daemon, opened):
    source = opened("single/single_rs.rs")
    result = scenario(daemon, SINGLE_FILE_SCENARIO.format(name="single_rs", old="    10\\n", new="    20\\n"), SOURCE=source)
    assert result.stdout.strip().endswith("OK")


def test_compile_error_then_fix(daemon, opened):
    source = opened("single/single_cpp.cpp")
    result = scenario(daemon, """
prestage.install()
sys.path.insert(0, str(pathlib.Path(SOURCE).parent))
import single_cpp
project = change("single_cpp", SOURCE, "return 10;", "return 10 +;")
assert project["last_build"]["ok"] is False
try:
    importlib.reload(single_cpp)
except prestage.BuildError as error:
    assert isinstance(error, ImportError)
    message = str(error)
    print(message)
    assert "single_cpp.cpp:" in message and ": error: " in message, message
    line = next(l for l in message.splitlines() if "single_cpp.cpp:" in l)
    assert line.split("single_cpp.cpp:")[1].split(":")[0].isdigit(), line
else:
    raise AssertionError("reload after a failed build must raise BuildError")
assert single_cpp.get_num() == 10 and single_cpp.increment() == 1, "the old module stays usable"
change("single_cpp", SOURCE, "return 10 +;", "return 20;")
importlib.reload(single_cpp)
assert single_cpp.get_num() == 20
print("OK")
""", SOURCE=source)
    assert result.stdout.strip().endswith("OK")


def test_reload_without_finder_and_with_reloading_disabled(daemon, opened):
    source = opened("single/single_cpp.cpp")
    result = scenario(daemon, """
finder = prestage.install(enable_reloading=False)
assert sys.meta_path[0] is finder
sys.path.insert(0, str(pathlib.Path(SOURCE).parent))
import single_cpp
single_cpp.increment()
change("single_cpp", SOURCE, "return 10;", "return 20;")
importlib.reload(single_cpp)
assert single_cpp.get_num() == 10 and single_cpp.counter() == 1, "enable_reloading=False leaves it as it is"

prestage.uninstall()
assert finder not in sys.meta_path
sys.path.insert(0, os.path.dirname(single_cpp.__file__))  # as if installed there
importlib.reload(single_cpp)
assert single_cpp.get_num() == 10 and single_cpp.counter() == 1, "without the finder nothing reloads"

prestage.install()
importlib.reload(single_cpp)
assert single_cpp.get_num() == 20, "reloading works again once the finder is installed"
print("OK")
""", SOURCE=source)
    assert result.stdout.strip().endswith("OK")


def test_install_after_plain_import(daemon, opened):
    source = opened("single/single_cpp.cpp")
    resolved = daemon.client.call("spec/resolve", {"name": "single_cpp", "python": sys.executable, "wait": 60})
    result = scenario(daemon, """
sys.path.insert(0, PATH_ENTRY)
import single_cpp  # a plain import, no finder
assert "prestage" not in repr(single_cpp.__spec__.loader)
prestage.install()
change("single_cpp", SOURCE, "return 10;", "return 20;")
importlib.reload(single_cpp)
assert single_cpp.get_num() == 20
print("OK")
""", SOURCE=source, PATH_ENTRY=resolved["path_entry"])
    assert result.stdout.strip().endswith("OK")

