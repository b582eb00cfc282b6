"""reload(pkg) reloads changed extensions at any depth inside the package, points the subpackages
that hold them into the new generation, and shows the new code of PyO3 and pybind11 submodules.
Real daemon and builds."""
from test_daemon_reload import PROLOGUE, opened, scenario  # noqa: F401 - `opened` is a fixture


def test_cmake_extension_two_levels_down(daemon, opened):
    root = opened("rw_cmake")  # install(TARGETS _deep DESTINATION rw_cmake/sub)
    result = scenario(daemon, PROLOGUE + """
prestage.install()
import rw_cmake
import rw_cmake.sub._deep
old_deep = rw_cmake.sub._deep
sub = rw_cmake.sub
core = rw_cmake._core
assert old_deep.deep_value() == 5

# an unchanged reload keeps the generation and its path (prestage's choice: no new path per reload)
file_before = rw_cmake.__file__
importlib.reload(rw_cmake)
assert rw_cmake.__file__ == file_before and sys.modules["rw_cmake.sub._deep"] is old_deep

edit(pathlib.Path(ROOT, "src", "deep.c"), "PyLong_FromLong(5)", "PyLong_FromLong(6)")
importlib.reload(rw_cmake)
assert rw_cmake.__file__ != file_before
assert "rw_cmake.sub._deep" not in sys.modules and not hasattr(sub, "_deep"), "the changed nested extension was dropped"
assert rw_cmake.sub is sub, "the subpackage itself is not re-run"
assert sub.__path__ == [str(pathlib.Path(rw_cmake.__path__[0], "sub"))], ("__path__ points into the new generation", sub.__path__)
assert sub.__spec__.submodule_search_locations == sub.__path__
import rw_cmake.sub._deep
assert rw_cmake.sub._deep.deep_value() == 6 and rw_cmake.sub._deep is not old_deep
assert rw_cmake.sub._deep.__file__.startswith(sub.__path__[0])
assert old_deep.deep_value() == 5, "the old module object keeps working"
assert rw_cmake._core is core, "the unchanged extension keeps its module"

# a pybind11 submodule (def_submodule registers it in sys.modules) shows the new code too
old_child = rw_cmake._core.child
assert old_child.get_str() == "child-0" and sys.modules["rw_cmake._core.child"] is old_child
edit(pathlib.Path(ROOT, "src", "value.cpp"), '"child-0"', '"child-1"')
importlib.reload(rw_cmake)
assert rw_cmake._core.child is not old_child and rw_cmake._core.child.get_str() == "child-1"
assert sys.modules["rw_cmake._core.child"] is rw_cmake._core.child
assert old_child.get_str() == "child-0"
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK"), result.stdout


def test_pyo3_nested_module_name_and_submodule(daemon, opened):
    root = opened("rw_pyo3")  # [tool.maturin] module-name = "rw_pyo3.sub._ext"; _ext has add_submodule(child)
    result = scenario(daemon, PROLOGUE + """
prestage.install()
import rw_pyo3
from rw_pyo3.sub import _ext as old_ext
assert rw_pyo3.value() == 0 and old_ext.child.child_value() == 100
source = pathlib.Path(ROOT, "src", "lib.rs")
edit(source, "fn value() -> i64 {\\n    0\\n}", "fn value() -> i64 {\\n    7\\n}")
edit(source, "    100\\n", "    101\\n")
importlib.reload(rw_pyo3)
assert rw_pyo3.value() == 7, "__init__ re-ran against the new nested extension"
ext = sys.modules["rw_pyo3.sub._ext"]
assert ext is not old_ext and ext.child.child_value() == 101, "the PyO3 submodule has the new code"
assert rw_pyo3.sub._ext is ext and rw_pyo3.sub.__path__[0].startswith(rw_pyo3.__path__[0])
assert old_ext.value() == 0 and old_ext.child.child_value() == 100, "old objects keep working"
print("OK")
""", ROOT=root)
    assert result.stdout.strip().endswith("OK"), result.stdout
