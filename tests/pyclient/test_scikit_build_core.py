"""scikit-build-core projects as scikit-build-core builds them (docs/backends/scikit-build-core.md).

One daemon for the module (its environment carries SKB_FIXTURE_FLAVOR for `if.env` and
`cmake.define {env=...}`); each fixture is copied, built once and then driven by one fresh
/usr/bin/python3 started in the project directory, as a user would: import, check what a user
checks, write a source, reload on the next line, check again."""
import json
import sysconfig
import uuid

import pytest

from conftest import own_daemon
from helpers import EDIT_FUNCTION, EXT_SUFFIX, FIXTURES, TREE_FUNCTION, copy_tree, run_python

SOABI = sysconfig.get_config_var("SOABI")
TIMEOUT = 1200

PROLOGUE = """
import ctypes, importlib, importlib.metadata, json, os, pathlib, sys, sysconfig
import prestage
prestage.install()

""" + EDIT_FUNCTION + TREE_FUNCTION


@pytest.fixture(scope="module")
def skb(tmp_path_factory):
    daemon = own_daemon(tmp_path_factory, "skb", extra_env={"SKB_FIXTURE_FLAVOR": "spicy"})
    yield daemon
    daemon.stop()


def copy_fixture(skb, name):
    return copy_tree(FIXTURES / name, skb.workspace / uuid.uuid4().hex[:8] / name)


def run_user(skb, root, body, expect_ok=True):
    """A fresh interpreter in the project directory; the finder opens the project from sys.path."""
    result = run_python(PROLOGUE + body, env=skb.env, cwd=root, timeout=TIMEOUT, expect_ok=expect_ok)
    return result


def assert_ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.stdout.strip().endswith("OK"), result.stdout


CASES = {
    # Configure: source-dir, defines in every form, args, build type, targets, SKBUILD_* values, overrides.
    "configure": ("skb_configure", f"""
import skb_configure
v = skb_configure.values()
expected = {{
    "SOME_DEFINE": "foo", "SOME_OPTION": "TRUE", "FOOD_GROUPS": "2 Apple", "FROM_ENV": "spicy",
    "FROM_ENV_DEFAULT": "fallback", "FROM_ARGS": "args-value", "STATE_OVERRIDE": "editable-only",
    "PLATFORM_OVERRIDE": "linux-py39+", "ENV_OVERRIDE": "env-matched", "SKBUILD_STATE": "editable",
    "SKBUILD_PROJECT_VERSION": "1.4.2", "SKBUILD_PROJECT_VERSION_FULL": "1.4.2rc1",
    "SKBUILD_PROJECT_NAME": "skb_configure", "SKBUILD_SOABI": "{SOABI}", "CMAKE_BUILD_TYPE": "RelWithDebInfo",
    "SKBUILD": "2", "MARK": "configure-0",
}}
assert v == expected, {{k: (v.get(k), e) for k, e in expected.items() if v.get(k) != e}}
edit("native/configure.c", '"configure-0"', '"configure-1"')
importlib.reload(skb_configure)
assert skb_configure.values()["MARK"] == "configure-1", skb_configure.values()
print("OK")
"""),
    # Installed tree: install-dir, exclude, generate, a top-level extension and .py, ctypes, data.
    "layout": ("skb_layout", f"""
import skb_layout, skb_layout.pure, skb_top, skb_helper
assert skb_layout._core.mark() == "core-0"
assert skb_top.mark() == "top-0" and skb_top.__file__.endswith("skb_top{EXT_SUFFIX}"), skb_top.__file__
assert skb_helper.HELPER == "helper-0"
assert skb_layout.pure.VALUE == "pure-0"
assert skb_layout.plain_answer() == 42
assert skb_layout.table() == "row,1\\n"
assert skb_layout.version == "0.3.0"
gen, files = tree(skb_layout)
expected = sorted([
    "skb_helper.py", "skb_top{EXT_SUFFIX}", "skb_layout/__init__.py", "skb_layout/pure.py",
    "skb_layout/_core{EXT_SUFFIX}", "skb_layout/_version.py", "skb_layout/data/table.txt",
    "skb_layout/lib/skbplain.so",
])
assert files == expected, files
names = next(p for p in prestage.status() if "skb_layout" in p["modules"])["modules"]
assert sorted(names) == ["skb_helper", "skb_layout", "skb_top"], names
edit("cpp/core.c", '"core-0"', '"core-1"')
importlib.reload(skb_layout)
assert skb_layout._core.mark() == "core-1", skb_layout._core.mark()
edit("cpp/top.c", '"top-0"', '"top-1"')
importlib.reload(skb_top)
assert skb_top.mark() == "top-1", skb_top.mark()
edit("cpp/top.c", '"top-1"', '"top-2"')
importlib.reload(skb_helper)  # a plain module: the changed extension it imported loads anew (SWIG's pattern)
assert skb_helper.top_mark() == "top-2", skb_helper.top_mark()
assert skb_layout.plain_answer() == 42
print("OK")
"""),
    # The stable ABI: cp39 -> Development.SABIModule, USE_SABI 3.9, the .abi3.so suffix.
    "abi3": ("skb_abi3", """
import skb_abi3, skb_abi3._abi as abi
assert abi.__file__.endswith("_abi.abi3.so"), abi.__file__
info = skb_abi3.info()
assert info["Py_LIMITED_API"] == 0x03090000, hex(info["Py_LIMITED_API"])
assert info["SKBUILD_SABI_COMPONENT"] == "Development.SABIModule", info
assert info["SKBUILD_SABI_VERSION"] == "3.9" and info["SKBUILD_SOABI"] == "abi3", info
edit("abi.c", '"abi-0"', '"abi-1"')
importlib.reload(skb_abi3)
assert skb_abi3.info()["MARK"] == "abi-1", skb_abi3.info()
assert skb_abi3._abi.__file__.endswith("_abi.abi3.so")
print("OK")
"""),
    # The regex version provider feeds SKBUILD_PROJECT_VERSION*.
    "regex-version": ("skb_meta", """
import skb_meta
assert skb_meta.built_version() == "2.5.1", skb_meta.built_version()
edit("meta.c", "PyUnicode_FromString(SKB_VERSION_FULL)", 'PyUnicode_FromString(SKB_VERSION_FULL "+edited")')
importlib.reload(skb_meta)
assert skb_meta.built_version() == "2.5.1+edited", skb_meta.built_version()
print("OK")
"""),
    "hatch": ("skb_hatch", """
import skb_hatch
assert skb_hatch.mark() == "from-hatch-hook hatch-0", skb_hatch.mark()
edit("hatch.c", "hatch-0", "hatch-1")
importlib.reload(skb_hatch)
assert skb_hatch.mark() == "from-hatch-hook hatch-1", skb_hatch.mark()
print("OK")
"""),
    "setuptools": ("skb_setuptools", """
import skb_setuptools
assert skb_setuptools.mark() == "from-setuptools-mode setuptools-0", skb_setuptools.mark()
edit("setuptools.c", "setuptools-0", "setuptools-1")
importlib.reload(skb_setuptools)
assert skb_setuptools.mark() == "from-setuptools-mode setuptools-1", skb_setuptools.mark()
print("OK")
"""),
    # Cython through CMake: find_program(cython) finds the requirement's script (pip's build env has
    # it; Debian has only cython3), and Cython's error names the .pyx line.
    "cython": ("skb_cython", """
import skb_cython
assert skb_cython.mark() == "cy-0", skb_cython.mark()
edit("skb_cython.pyx", 'return "cy-0"', 'return "cy-0" +')
try:
    importlib.reload(skb_cython)
except prestage.BuildError as error:
    assert str(pathlib.Path("skb_cython.pyx").resolve()) + ":2:" in str(error), str(error)
else:
    raise AssertionError("the reload did not fail")
assert skb_cython.mark() == "cy-0"
edit("skb_cython.pyx", 'return "cy-0" +', 'return "cy-1"')
importlib.reload(skb_cython)
assert skb_cython.mark() == "cy-1", skb_cython.mark()
print("OK")
"""),
    # No pyproject.toml, no pybind11: python_add_library alone makes it a project.
    "plain-cmake": ("skb_plain", """
import skb_plain
assert skb_plain.mark() == "plain-0"
edit("plain.c", "plain-0", "plain-1")
importlib.reload(skb_plain)
assert skb_plain.mark() == "plain-1", skb_plain.mark()
print("OK")
"""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_builds_imports_and_reloads(skb, case):
    fixture, body = CASES[case]
    root = copy_fixture(skb, fixture)
    try:
        assert_ok(run_user(skb, root, body))
    finally:
        close_projects_under(skb, root)


def close_projects_under(skb, root):
    """Closes what the case opened: a later case's copy of the same fixture provides the same names,
    and the daemon serves a name from one open project only."""
    for project in skb.client.call("project/list"):
        if str(project["root"]).startswith(str(root)):
            skb.client.call("project/close", {"id": project["id"]})


def project_entry(skb, module):
    for project in skb.client.call("project/list"):
        if module in project["modules"]:
            return project
    raise AssertionError(f"no open project provides {module}")


def test_metadata_version_and_entry_points(skb):
    root = copy_fixture(skb, "skb_meta")
    assert_ok(run_user(skb, root, """
import skb_meta
assert importlib.metadata.version("skb-meta") == "2.5.1"
scripts = importlib.metadata.entry_points(group="console_scripts")
assert any(ep.name == "skb-meta-hello" and ep.value == "skb_meta:hello" for ep in scripts), list(scripts)
plugins = importlib.metadata.entry_points(group="skb_meta.plugins")
assert [ep.load()() for ep in plugins] == ["hello from skb_meta"]
edit("src/skb_meta/__init__.py", '__version__ = "2.5.1"', '__version__ = "2.6.0"')
importlib.reload(skb_meta)
assert importlib.metadata.version("skb-meta") == "2.6.0", importlib.metadata.version("skb-meta")
print("OK")
"""))


ERRORS = """
import skb_errors
assert skb_errors.mark() == "errors-0"
cmakelists = pathlib.Path("CMakeLists.txt")
good = cmakelists.read_text()

def failed_reload(expected):
    try:
        importlib.reload(skb_errors)
    except ImportError as error:
        text = str(error)
        assert expected in text, text
        print("ERROR", json.dumps(text))
    else:
        raise AssertionError("the reload did not fail")
    assert skb_errors.mark() == "errors-0"  # the loaded module keeps working

# 1. A CMake error of several paragraphs.
cmakelists.write_text(good.replace("# STEP-MARKER", 'message(FATAL_ERROR "first paragraph of the problem\\\\n\\\\nsecond paragraph: how to fix it")'))
failed_reload("error")
print("CMAKE-ERROR-DONE")
# 2. A failing build step that prints no machine-readable diagnostics.
cmakelists.write_text(good.replace("# STEP-MARKER", 'add_custom_target(failing_step ALL COMMAND sh -c "echo prestage-step-output: the widget is missing >&2; exit 3")'))
failed_reload("the widget is missing")
# 3. An unsupported option.
cmakelists.write_text(good)
pyproject = pathlib.Path("pyproject.toml")
pyproject.write_text(pyproject.read_text().replace("build.verbose = false", 'build.verbose = false\\neditable.mode = "inplace"'))
failed_reload("editable.mode")
# 4. A CMake version the project does not accept.
pyproject.write_text(pyproject.read_text().replace('editable.mode = "inplace"', 'cmake.version = ">=99"'))
failed_reload("tool.scikit-build.cmake.version")
pyproject.write_text(pyproject.read_text().replace('cmake.version = ">=99"', 'editable.mode = "inplace"'))
# Fixed again: builds and reloads.
pyproject.write_text(pyproject.read_text().replace('editable.mode = "inplace"', ""))
edit("errors.c", '"errors-0"', '"errors-1"')
importlib.reload(skb_errors)
assert skb_errors.mark() == "errors-1", skb_errors.mark()
print("OK")
"""


def test_errors_reach_the_user_whole(skb):
    root = copy_fixture(skb, "skb_errors")
    result = run_user(skb, root, ERRORS, expect_ok=False)
    assert_ok(result)
    errors = [json.loads(line[len("ERROR "):]) for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 4, result.stdout
    assert "exited with code" not in errors[1] or "the widget is missing" in errors[1], errors[1]
    assert "tool.scikit-build.editable.mode" in errors[2], errors[2]
    assert "does not satisfy" in errors[3], errors[3]


def test_cmake_error_diagnostic_is_whole(skb):
    """The diagnostic of a multi-paragraph CMake error holds every paragraph, with file and line."""
    root = copy_fixture(skb, "skb_errors")
    project = skb.open(root)
    skb.wait_built(project["id"])
    lists = root / "CMakeLists.txt"
    lists.write_text(lists.read_text().replace(
        "# STEP-MARKER", 'message(FATAL_ERROR "first paragraph of the problem\\n\\nsecond paragraph: how to fix it")'))
    skb.client.call("sync", {"projects": [project["id"]], "wait": True}, timeout=TIMEOUT)
    entry = skb.wait_built(project["id"])
    build = entry["last_build"]
    assert build["ok"] is False, build
    messages = [d for d in build["diagnostics"] if "first paragraph" in d["message"]]
    assert messages, build["diagnostics"]
    diagnostic = messages[0]
    assert "second paragraph: how to fix it" in diagnostic["message"], diagnostic
    assert diagnostic["file"] == str(root / "CMakeLists.txt") and diagnostic["line"] == 6, diagnostic
    skb.client.call("project/close", {"root": str(root)})


def test_reconfigures_only_when_a_configure_input_changes(skb):
    root = copy_fixture(skb, "skb_errors")
    project = skb.open(root)
    skb.wait_built(project["id"])

    def rebuild_after(path, old, new):
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
        skb.client.call("sync", {"projects": [project["id"]], "wait": True}, timeout=TIMEOUT)
        entry = skb.wait_built(project["id"])
        assert entry["last_build"]["ok"], entry["last_build"]
        return skb.client.call("build/log", {"id": project["id"]})["log"]

    log = rebuild_after(root / "errors.c", '"errors-0"', '"errors-1"')
    assert "-- Configuring done" not in log, log[-3000:]
    log = rebuild_after(root / "pyproject.toml", "build.verbose = false", 'build.verbose = false\ncmake.define.NEW_DEFINE = "x"')
    assert "-- Configuring done" in log and "-DNEW_DEFINE=x" in log, log[-3000:]
    log = rebuild_after(root / "errors.c", '"errors-1"', '"errors-2"')
    assert "-- Configuring done" not in log, log[-3000:]
    skb.client.call("project/close", {"root": str(root)})


def test_broken_settings_name_the_key(skb):
    root = copy_fixture(skb, "skb_errors")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.scikit-build.wheel]\nno-such-option = 1\n')
    project = skb.open(root)
    entry = skb.wait_built(project["id"])
    assert entry["last_build"]["ok"] is False
    text = json.dumps(entry["last_build"]["diagnostics"])
    assert "wheel.no-such-option" in text, text
    skb.client.call("project/close", {"root": str(root)})


def test_a_module_cmake_installs_next_to_the_package_is_importable_first(skb):
    """Once built, a fresh interpreter imports the CMake-installed top-level names before the package."""
    root = copy_fixture(skb, "skb_layout")
    project = skb.open(root)
    skb.wait_built(project["id"])
    assert sorted(skb.open(root)["modules"]) == ["skb_helper", "skb_layout", "skb_top"]
    assert_ok(run_user(skb, root, """
import skb_top, skb_helper
assert skb_top.mark() == "top-0" and skb_helper.HELPER == "helper-0"
print("OK")
"""))
    skb.client.call("project/close", {"root": str(root)})
