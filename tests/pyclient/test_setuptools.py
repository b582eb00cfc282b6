"""setuptools extension projects, unmodified (docs/backends/setuptools.md).

One daemon for the module; each fixture is copied and driven by one fresh /usr/bin/python3
started in the project directory, as a user would: import, check, write a source, reload on the
next line, check again. The project's source tree must come out of every build as it went in."""
import json
import uuid

import pytest

from conftest import own_daemon
from helpers import EDIT_FUNCTION, FIXTURES, copy_tree, run_python

TIMEOUT = 300  # per interpreter: fails (subprocess.TimeoutExpired) rather than hangs

PROLOGUE = """
import importlib, json, os, pathlib
import prestage
prestage.install()

""" + EDIT_FUNCTION + """
def files():
    return sorted(str(p) for p in pathlib.Path(".").rglob("*") if p.is_file())

def failed_reload(module, *expected):
    try:
        importlib.reload(module)
    except prestage.BuildError as error:
        assert isinstance(error, ImportError)
        text = str(error)
        for part in expected:
            assert part in text, (part, text)
        print("ERROR", json.dumps(text))
    else:
        raise AssertionError("the reload did not fail")
"""


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    daemon = own_daemon(tmp_path_factory, "st")
    yield daemon
    daemon.stop()


def run_user(st, name, body):
    root = copy_tree(FIXTURES / name, st.workspace / uuid.uuid4().hex[:8] / name)
    result = run_python(PROLOGUE + body, env=st.env, cwd=root, timeout=TIMEOUT, expect_ok=False)
    if result.returncode != 0:
        logs = [st.client.call("build/log", {"id": p["id"]})["log"][-6000:] for p in st.client.call("project/list")
                if p["root"] == str(root)]
        raise AssertionError(f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
                             f"--- build log\n{''.join(logs)}\n--- daemon\n{st.log_text()}")
    assert result.stdout.strip().endswith("OK"), result.stdout
    return result


def test_pybind11_extension_like_python_example(st):
    run_user(st, "st_pybind11", """
before = files()
import st_pybind11
assert st_pybind11.mark() == "pb-0" and st_pybind11.add(2, 3) == 5
assert st_pybind11.Counter().next(1) == 2
edit("src/main.cpp", '"pb-0"', '"pb-1"')
importlib.reload(st_pybind11)
assert st_pybind11.mark() == "pb-1", st_pybind11.mark()
edit("src/main.cpp", "int step = 1;", "int step = 10;")
importlib.reload(st_pybind11)
assert st_pybind11.Counter().next(1) == 11
assert files() == before, (before, files())  # nothing written into the project
assert prestage.status()[0]["kind"] == "setuptools"
print("OK")
""")


def test_c_and_cython_extensions_in_a_src_package(st):
    result = run_user(st, "st_src_pkg", """
before = files()
import st_pkg
assert st_pkg.describe() == "core-0 fast-0 pure-0", st_pkg.describe()
assert st_pkg._fast.total(4) == 6
edit("src/st_pkg/core.h", '"core-0"', '"core-1"')  # a header: extensions depend on it
importlib.reload(st_pkg)
assert st_pkg.describe() == "core-1 fast-0 pure-0", st_pkg.describe()
edit("src/st_pkg/_fast.pyx", '"fast-0"', '"fast-1"')
importlib.reload(st_pkg)
assert st_pkg.describe() == "core-1 fast-1 pure-0", st_pkg.describe()
edit("src/st_pkg/__init__.py", '"pure-0"', '"pure-1"')
importlib.reload(st_pkg)
assert st_pkg.describe() == "core-1 fast-1 pure-1", st_pkg.describe()
assert st_pkg._core.lib_value() == 1
edit("clib/lib.c", "return 1;", "return 2;")  # build_clib's library: rebuilt, the extensions relinked
importlib.reload(st_pkg)
assert st_pkg._core.lib_value() == 2, st_pkg._core.lib_value()
# A compile error: file and line reach the user; the loaded module keeps working.
edit("src/st_pkg/_core.c", "return PyUnicode_FromString(ST_CORE_MARK);", "return PyUnicode_FromString(ST_CORE_MARK) +;")
failed_reload(st_pkg, "src/st_pkg/_core.c:6:")
assert st_pkg.describe() == "core-1 fast-1 pure-1"
edit("src/st_pkg/_core.c", "return PyUnicode_FromString(ST_CORE_MARK) +;", "return PyUnicode_FromString(ST_CORE_MARK);")
# A module the setup script needs and the interpreter lacks is named.
edit("setup.py", "from Cython.Build import cythonize", "import prestage_missing_helper\\nfrom Cython.Build import cythonize")
failed_reload(st_pkg, "prestage_missing_helper", "setup.py")
edit("setup.py", "import prestage_missing_helper\\n", "")
edit("src/st_pkg/core.h", '"core-1"', '"core-2"')
importlib.reload(st_pkg)
assert st_pkg.describe() == "core-2 fast-1 pure-1", st_pkg.describe()
import importlib.metadata
assert importlib.metadata.version("st-pkg") == "1.2.0", importlib.metadata.version("st-pkg")  # from setup.py's metadata
assert files() == before, (before, files())  # no .c from Cython, no build/, no egg-info
print("OK")
""")
    errors = [json.loads(line[len("ERROR "):]) for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 2, result.stdout
    assert "exited with code" not in errors[0], errors[0]


def test_pyproject_only_ext_modules(st):
    run_user(st, "st_pyproject", """
before = files()
import st_flat
assert st_flat.mark() == "flat-0"
edit("st_flat/native.c", '"flat-0"', '"flat-1"')
importlib.reload(st_flat)
assert st_flat.mark() == "flat-1", st_flat.mark()
assert files() == before, (before, files())
print("OK")
""")


def test_setup_py_whose_build_ext_runs_cmake_like_cmake_example(st):
    # pybind11's cmake_example: a CMakeLists.txt with no install() rule, built by setup.py's own
    # build_ext subclass into get_ext_fullpath's directory. prestage runs setup.py, as pip does.
    result = run_user(st, "st_cmake_ext", """
before = files()
import st_cmake_ext
assert st_cmake_ext.mark() == "native-0" and st_cmake_ext.version() == "0.4.0", st_cmake_ext.mark()
assert prestage.status()[0]["kind"] == "setuptools"
edit("native/native.h", '"native-0"', '"native-1"')  # a header: CMake's own dependency scan
importlib.reload(st_cmake_ext)
assert st_cmake_ext.mark() == "native-1", st_cmake_ext.mark()
edit("st_cmake_ext/__init__.py", '"pure-0"', '"pure-1"')
importlib.reload(st_cmake_ext)
assert st_cmake_ext.PURE == "pure-1"
edit("native/native.c", "return PyUnicode_FromString(NATIVE_MARK);", "return PyUnicode_FromString(NATIVE_MARK) +;")
failed_reload(st_cmake_ext, str(pathlib.Path("native/native.c").resolve()) + ":5:")
assert st_cmake_ext.mark() == "native-1"  # the loaded module keeps working
edit("native/native.c", "return PyUnicode_FromString(NATIVE_MARK) +;", "return PyUnicode_FromString(NATIVE_MARK);")
edit("native/native.h", '"native-1"', '"native-2"')
importlib.reload(st_cmake_ext)
assert st_cmake_ext.mark() == "native-2", st_cmake_ext.mark()
assert files() == before, (before, files())  # CMake's build dir is under the work dir
print("OK")
""")
    errors = [json.loads(line[len("ERROR "):]) for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1 and "exited with code" not in errors[0], result.stdout


def test_namespace_package_with_an_extension_three_levels_down(st):
    # The project's directory is sys.path[0], so its own st_ns/ (sources, no extension) is a portion
    # of the namespace too: the generation's portion comes first.
    run_user(st, "st_namespace", """
before = files()
import st_ns.inner.deep as deep, st_ns.inner
assert deep.leaf_mark() == "leaf-0" and st_ns.inner.INNER == "inner-0"
assert st_ns.__spec__.origin is None and "/gen-" in list(st_ns.__path__)[0], list(st_ns.__path__)
edit("st_ns/inner/deep/leaf.c", '"leaf-0"', '"leaf-1"')
importlib.reload(deep)
assert deep.leaf_mark() == "leaf-1", deep.leaf_mark()
edit("st_ns/inner/__init__.py", '"inner-0"', '"inner-1"')
importlib.reload(st_ns.inner)
assert st_ns.inner.INNER == "inner-1"
assert files() == before, (before, files())
print("OK")
""")
