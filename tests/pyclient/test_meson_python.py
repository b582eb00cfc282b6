"""meson-python projects as meson-python builds them (docs/backends/meson-python.md).

One daemon for the module; the fixture is copied and driven by a fresh /usr/bin/python3 started in
the project directory, as a user would: import, check, write a source, reload on the next line,
check again. meson_pkg builds in about a second, so the whole file stays well under a minute."""
import json
import shutil
import uuid

import pytest

from conftest import own_daemon
from helpers import EDIT_FUNCTION, EXT_SUFFIX, FIXTURES, TREE_FUNCTION, copy_tree, run_python

TIMEOUT = 180  # a hung build fails the test rather than the CI run

PROLOGUE = """
import importlib, importlib.metadata, json, pathlib
import prestage
prestage.install()

""" + EDIT_FUNCTION + TREE_FUNCTION

pytestmark = pytest.mark.skipif(shutil.which("meson") is None or shutil.which("ninja") is None,
                                reason="meson and ninja are not installed (.ci/setup.sh installs them)")


@pytest.fixture(scope="module")
def mpy(tmp_path_factory):
    daemon = own_daemon(tmp_path_factory, "meson")
    yield daemon
    daemon.stop()


def copy_fixture(mpy):
    return copy_tree(FIXTURES / "meson_pkg", mpy.workspace / uuid.uuid4().hex[:8] / "meson_pkg")


def run_user(mpy, root, body):
    return run_python(PROLOGUE + body, env=mpy.env, cwd=root, timeout=TIMEOUT, expect_ok=False)


def assert_ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.stdout.strip().endswith("OK"), result.stdout


def test_builds_imports_and_reloads(mpy):
    root = copy_fixture(mpy)
    assert_ok(run_user(mpy, root, f"""
import meson_pkg
assert meson_pkg.mark() == "core-0", meson_pkg.mark()
assert meson_pkg._core.greeting() == "from-setup-args", meson_pkg._core.greeting()  # [tool.meson-python.args] setup
assert meson_pkg.UTIL == "util-0"
assert importlib.metadata.version("meson-pkg") == "0.2.0"
expected = sorted(["meson_pkg/__init__.py", "meson_pkg/util.py", "meson_pkg/_core{EXT_SUFFIX}"])
assert tree(meson_pkg)[1] == expected, tree(meson_pkg)
edit("src/core.c", '"core-0"', '"core-1"')
importlib.reload(meson_pkg)
assert meson_pkg.mark() == "core-1", meson_pkg.mark()
edit("src/meson_pkg/__init__.py", '__version__ = "0.2.0"', '__version__ = "0.2.0-edited"')
importlib.reload(meson_pkg)
assert meson_pkg.__version__ == "0.2.0-edited", meson_pkg.__version__  # a .py edit: restaged from the sources
edit("pyproject.toml", "from-setup-args", "from-edited-args")
importlib.reload(meson_pkg)
assert meson_pkg._core.greeting() == "from-edited-args", meson_pkg._core.greeting()
print("OK")
"""))


ERRORS = """
import meson_pkg
assert meson_pkg.mark() == "core-0"

def failed_reload(*expected):
    try:
        importlib.reload(meson_pkg)
    except prestage.BuildError as error:
        assert isinstance(error, ImportError)
        text = str(error)
        assert all(e in text for e in expected), text
        print("ERROR", json.dumps(text))
    else:
        raise AssertionError("the reload did not fail")
    assert meson_pkg.mark() == "core-0"  # the loaded module keeps working

# 1. A compile error: GCC's diagnostic with file and line.
edit("src/core.c", 'PyUnicode_FromString("core-0");', 'PyUnicode_FromString("core-0")')
failed_reload(str(pathlib.Path("src/core.c").resolve()) + ":4:")
edit("src/core.c", 'PyUnicode_FromString("core-0")', 'PyUnicode_FromString("core-0");')
# 2. A broken meson.build: meson's own error, with file and line.
edit("meson.build", "py = import(", "py = importx(1)\\npy = import(")
failed_reload(str(pathlib.Path("meson.build").resolve()) + ":3:", "importx")
edit("meson.build", "py = importx(1)\\n", "")
# 3. An unknown [tool.meson-python] key.
edit("pyproject.toml", "[tool.meson-python.args]", "[tool.meson-python]\\nno-such-key = 1\\n\\n[tool.meson-python.args]")
failed_reload("tool.meson-python.no-such-key")
edit("pyproject.toml", "no-such-key = 1", "")
# Fixed again: builds and reloads.
edit("src/core.c", '"core-0"', '"core-1"')
importlib.reload(meson_pkg)
assert meson_pkg.mark() == "core-1", meson_pkg.mark()
print("OK")
"""


def test_errors_name_file_and_line_and_the_old_module_keeps_working(mpy):
    root = copy_fixture(mpy)
    result = run_user(mpy, root, ERRORS)
    assert_ok(result)
    errors = [json.loads(line[len("ERROR "):]) for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 3, result.stdout
    assert "exited with code" not in errors[0], errors[0]


def test_setup_runs_again_only_when_a_setup_input_changes(mpy):
    root = copy_fixture(mpy)
    project = mpy.open(root)
    assert project["kind"] == "meson", project
    mpy.wait_built(project["id"], timeout=TIMEOUT)

    def rebuild_after(path, old, new):
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
        mpy.client.call("sync", {"projects": [project["id"]], "wait": True}, timeout=TIMEOUT)
        entry = mpy.wait_built(project["id"], timeout=TIMEOUT)
        assert entry["last_build"]["ok"], entry["last_build"]
        return mpy.client.call("build/log", {"id": project["id"]})["log"]

    log = rebuild_after(root / "src" / "core.c", '"core-0"', '"core-1"')
    assert "$ meson setup" not in log and "Linking target" in log, log[-3000:]
    log = rebuild_after(root / "pyproject.toml", "from-setup-args", "from-other-args")
    assert "$ meson setup" in log and "-Dgreeting=from-other-args" in log, log[-3000:]
    mpy.client.call("project/close", {"root": str(root)})


def test_a_meson_build_broken_from_the_start_is_a_build_error(mpy):
    """The first setup fails: meson's error names meson.build and its line; fixing it builds."""
    root = copy_fixture(mpy)
    meson_build = root / "meson.build"
    good = meson_build.read_text()
    meson_build.write_text(good.replace("py = import(", "py = importx(1)\npy = import(", 1))
    project = mpy.open(root)
    build = mpy.wait_built(project["id"], timeout=TIMEOUT)["last_build"]
    assert build["ok"] is False, build
    errors = [d for d in build["diagnostics"] if "importx" in d["message"]]
    assert errors and errors[0]["file"] == str(meson_build) and errors[0]["line"] == 3, build["diagnostics"]
    meson_build.write_text(good)
    mpy.client.call("sync", {"projects": [project["id"]], "wait": True}, timeout=TIMEOUT)
    assert mpy.wait_built(project["id"], timeout=TIMEOUT)["last_build"]["ok"] is True
    mpy.client.call("project/close", {"root": str(root)})


def test_top_level_modules_known_only_after_the_first_build(mpy):
    # meson-python's simplest layout: no package, an extension and a module installed at the top.
    # Their names come from the build: the first import waits for it (FirstBuildFinder), unknown
    # names still fail at once afterwards.
    root = copy_tree(FIXTURES / "meson_top", mpy.workspace / uuid.uuid4().hex[:8] / "meson_top")
    assert_ok(run_user(mpy, root, """
import sys, time
import meson_top_ext
assert meson_top_ext.mark() == "ext-0", meson_top_ext.mark()
assert "/gen-" in meson_top_ext.__file__, meson_top_ext.__file__
edit("ext.c", '"ext-0"', '"ext-1"')
importlib.reload(meson_top_ext)
assert meson_top_ext.mark() == "ext-1", meson_top_ext.mark()
start = time.monotonic()
try:
    import meson_top_missing
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("imported a module nobody provides")
assert time.monotonic() - start < 5, "an unknown name waited"
print("OK")
"""))


def test_pybind11_classes_reload_with_the_daemons_helper(mpy):
    # dependency('pybind11'): the daemon reads its headers from meson's introspection and compiles
    # the pybind11 helper against them during the first build, so the reload of a pybind11 class
    # compiles nothing in the client, and an object from before the reload keeps working.
    root = copy_tree(FIXTURES / "meson_pb11", mpy.workspace / uuid.uuid4().hex[:8] / "meson_pb11")
    assert_ok(run_user(mpy, root, """
from prestage import _pybind11
import meson_pb11
old = meson_pb11.Counter(3)
assert meson_pb11.mark() == "pb11-0"
edit("counter.cpp", '"pb11-0"', '"pb11-1"')
importlib.reload(meson_pb11)
assert meson_pb11.mark() == "pb11-1", meson_pb11.mark()
old.add(2)
fresh = meson_pb11.Counter(1)
assert (old.value, fresh.value, isinstance(old, meson_pb11.Counter)) == (5, 1, True), (old.value, fresh.value)
assert _pybind11._cache == {}, ("the client compiled a pybind11 helper of its own", _pybind11._cache)
print("OK")
"""))


@pytest.mark.skipif(shutil.which("patchelf") is None, reason="patchelf is not installed (.ci/setup.sh installs it)")
def test_a_project_shared_library_goes_to_mesonpy_libs_and_reloads(mpy):
    # meson-python moves a library installed to {libdir_shared} into .<name>.mesonpy.libs and adds
    # that directory to the RPATH of what links it. An edit of the library reloads too: each
    # generation names its copy after the content, so the loader does not reuse the old one.
    # Then a Cython extension (meson's cython language): its compile error names the .pyx line.
    root = copy_tree(FIXTURES / "meson_libs", mpy.workspace / uuid.uuid4().hex[:8] / "meson_libs")
    assert_ok(run_user(mpy, root, f"""
import meson_libs
assert meson_libs.scaled() == 30, meson_libs.scaled()
top, files = tree(meson_libs)
libs = [f for f in files if f.startswith(".meson_libs.mesonpy.libs/libscale-")]
assert len(libs) == 1 and libs[0].endswith(".so.1.0.0"), files  # version: '1.0.0', linked by its soname
assert "meson_libs/_ext{EXT_SUFFIX}" in files, files
edit("lib/scale.c", "return 3;", "return 4;")
importlib.reload(meson_libs)
assert meson_libs.scaled() == 40, meson_libs.scaled()
edit("src/ext.c", "10 * scale_factor()", "100 * scale_factor()")
importlib.reload(meson_libs)
assert meson_libs.scaled() == 400, meson_libs.scaled()
assert meson_libs.cy_mark() == "cy-0"
edit("src/_cy.pyx", 'return "cy-0"', 'return "cy-0" +')  # Cython's error, with file and line
try:
    importlib.reload(meson_libs)
except prestage.BuildError as error:
    assert str(pathlib.Path("src/_cy.pyx").resolve()) + ":2:" in str(error), str(error)
else:
    raise AssertionError("the reload did not fail")
assert meson_libs.cy_mark() == "cy-0"
edit("src/_cy.pyx", 'return "cy-0" +', 'return "cy-1"')
importlib.reload(meson_libs)
assert meson_libs.cy_mark() == "cy-1", meson_libs.cy_mark()
print("OK")
"""))
