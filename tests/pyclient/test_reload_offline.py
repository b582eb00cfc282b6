"""The reload machinery (prestage._reload) on hand-built generations, without the daemon.

Extensions are compiled here with g++ against Debian's pybind11; generations are laid out exactly
as the daemon stages them and described by dicts shaped like spec/resolve's result."""
import hashlib
import json
import shutil

import pytest

from helpers import EXT_SUFFIX, FIXTURES, PYCLIENT, compile_pybind11, run_python

CMAKE_SRC = FIXTURES / "cmake_pkg" / "src"


def _variant(source, destination, old, new):
    text = source.read_text()
    assert old in text, f"{old!r} not in {source}"
    destination.write_text(text.replace(old, new))
    return destination


def _globalise(source, destination):
    """The same module with its classes outside the anonymous namespace (so their C++ names collide)."""
    text = source.read_text().replace("namespace {", "namespace cmake_pkg_impl {", 1)
    text = text.replace("}  // namespace", "}  // namespace cmake_pkg_impl\nusing namespace cmake_pkg_impl;", 1)
    assert "cmake_pkg_impl" in text
    destination.write_text(text)
    return destination


@pytest.fixture(scope="session")
def native(tmp_path_factory):
    root = tmp_path_factory.mktemp("native")
    src = root / "src"
    src.mkdir()
    core = CMAKE_SRC / "core.cpp"
    sources = {
        "glob10": _globalise(core, src / "glob10.cpp"),
        "sub5": CMAKE_SRC / "sub.cpp",
        "sub6": _variant(CMAKE_SRC / "sub.cpp", src / "sub6.cpp", "return 5;", "return 6;"),
        "single10": FIXTURES / "single" / "single_cpp.cpp",
        "single20": _variant(FIXTURES / "single" / "single_cpp.cpp", src / "single20.cpp", "return 10;", "return 20;"),
        "helper": PYCLIENT / "native" / "prestage_pybind11.cpp",
    }
    sources["glob20"] = _variant(sources["glob10"], src / "glob20.cpp", "return 10;", "return 20;")
    return {key: compile_pybind11(path, root / key / f"out{EXT_SUFFIX}") for key, path in sources.items()}


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_package_generation(root, number, core_so, sub_so):
    """gen-N/cmake_pkg/{__init__,other_module}.py, _core.so, subpkg/{__init__.py,_sub.so}."""
    entry = root / f"gen-{number}"
    package = entry / "cmake_pkg"
    shutil.copytree(CMAKE_SRC / "cmake_pkg", package)
    core = package / f"_core{EXT_SUFFIX}"
    sub = package / "subpkg" / f"_sub{EXT_SUFFIX}"
    shutil.copyfile(core_so, core)
    shutil.copyfile(sub_so, sub)
    return {
        "project": "offline0000000001", "generation": number,
        "origin": str(package / "__init__.py"), "submodule_search_locations": [str(package)],
        "path_entry": str(entry),
        "artifacts": [
            {"module": "cmake_pkg._core", "path": str(core), "sha256": _sha(core)},
            {"module": "cmake_pkg.subpkg._sub", "path": str(sub), "sha256": _sha(sub)},
        ],
    }


def make_single_generation(root, number, so):
    entry = root / f"gen-{number}"
    entry.mkdir()
    target = entry / f"single_cpp{EXT_SUFFIX}"
    shutil.copyfile(so, target)
    return {
        "project": "offline0000000002", "generation": number, "origin": str(target),
        "submodule_search_locations": None, "path_entry": str(entry),
        "artifacts": [{"module": "single_cpp", "path": str(target), "sha256": _sha(target)}],
    }


def run_scenario(tmp_path, specs, body):
    spec_file = tmp_path / "specs.json"
    spec_file.write_text(json.dumps(specs))
    prologue = f"""
import importlib, json, pickle, sys
sys.path.insert(0, {str(PYCLIENT.parent / 'tests' / 'pyclient')!r})
from gen_harness import GenerationFinder
SPECS = json.load(open({str(spec_file)!r}))
"""
    return run_python(prologue + body).stdout


def test_package_reload_unloads_only_changed_extensions(native, tmp_path):
    specs = {
        "g1": make_package_generation(tmp_path, 1, native["glob10"], native["sub5"]),
        "g2": make_package_generation(tmp_path, 2, native["glob20"], native["sub5"]),
        "g3": make_package_generation(tmp_path, 3, native["glob20"], native["sub5"]),
        "g4": make_package_generation(tmp_path, 4, native["glob20"], native["sub6"]),
    }
    out = run_scenario(tmp_path, specs, f"HELPER = {str(native['helper'])!r}\n" + """
finder = GenerationFinder(helper_path=HELPER)
sys.meta_path.insert(0, finder)
finder.serve("cmake_pkg", SPECS["g1"])
import cmake_pkg
import cmake_pkg._core as core_alias
import cmake_pkg.other_module as other
import cmake_pkg.subpkg
from cmake_pkg import get_num as bound_get_num
assert cmake_pkg.get_num() == 10 and other.doubled() == 20
cmake_pkg.user_attribute = "kept"
cmake_pkg.increment(); cmake_pkg.increment()
old_core, old_sub = cmake_pkg._core, cmake_pkg.subpkg._sub

# changed _core: loads fresh, globals reset; the unchanged _sub keeps its module object
finder.serve("cmake_pkg", SPECS["g2"])
assert importlib.reload(cmake_pkg) is cmake_pkg
assert cmake_pkg.get_num() == 20 and cmake_pkg._core.get_num() == 20
assert cmake_pkg._core is not old_core and sys.modules["cmake_pkg._core"] is cmake_pkg._core
assert cmake_pkg.counter() == 0, "rebuilt extension starts with fresh globals"
assert old_core.counter() == 2, "the old copy keeps its own globals"
assert bound_get_num() == 10 and core_alias.get_num() == 10, "names bound before keep the old code"
assert cmake_pkg.user_attribute == "kept", "the package namespace survives"
assert cmake_pkg.__file__ == SPECS["g2"]["origin"] and list(cmake_pkg.__path__) == SPECS["g2"]["submodule_search_locations"]
assert sys.modules["cmake_pkg.subpkg._sub"] is old_sub, "unchanged extension in a subpackage untouched"
assert other.doubled() == 20, "other_module is not reloaded by reloading the package"
importlib.reload(other)
assert other.doubled() == 40 and other.__file__.startswith(SPECS["g2"]["path_entry"])

# unchanged _core (same sha in a new generation): same module, state kept
cmake_pkg._core.extra_attribute = 123
cmake_pkg._core.data["key"] = "value"
cmake_pkg.increment()
core_g2 = cmake_pkg._core
finder.serve("cmake_pkg", SPECS["g3"])
importlib.reload(cmake_pkg)
assert cmake_pkg._core is core_g2 and cmake_pkg._core.extra_attribute == 123
assert cmake_pkg._core.data == {"key": "value"} and cmake_pkg.counter() == 1
assert cmake_pkg.__file__ == SPECS["g3"]["origin"]

# extension in a subpackage: reloading the subpackage picks up the new _sub
finder.serve("cmake_pkg", SPECS["g4"])
importlib.reload(cmake_pkg)
assert cmake_pkg.subpkg.sub_value() == 5, "reloading the package leaves the subpackage alone"
importlib.reload(cmake_pkg.subpkg)
assert cmake_pkg.subpkg.sub_value() == 6 and sys.modules["cmake_pkg.subpkg._sub"] is not old_sub
assert cmake_pkg.subpkg.__file__.startswith(SPECS["g4"]["path_entry"])
assert cmake_pkg._core is core_g2, "unchanged _core still kept"
print("OK")
""")
    assert out.strip().endswith("OK")


def test_single_file_reload_copies_fresh_namespace(native, tmp_path):
    specs = {
        "g1": make_single_generation(tmp_path, 1, native["single10"]),
        "g2": make_single_generation(tmp_path, 2, native["single20"]),
    }
    out = run_scenario(tmp_path, specs, """
finder = GenerationFinder()
sys.meta_path.insert(0, finder)
finder.serve("single_cpp", SPECS["g1"])
import single_cpp
import single_cpp as alias
from single_cpp import get_num as bound
original_file = single_cpp.__file__
single_cpp.added_later = "kept"
assert single_cpp.increment() == 1 and single_cpp.increment() == 2

finder.serve("single_cpp", SPECS["g2"])
assert importlib.reload(single_cpp) is single_cpp and sys.modules["single_cpp"] is single_cpp
assert single_cpp.get_num() == 20 and alias.get_num() == 20, "every holder of the module sees the new code"
assert bound() == 10, "names bound before keep the old code"
assert single_cpp.counter() == 0, "load-time state reset"
assert single_cpp.added_later == "kept", "attributes added after loading survive"
assert single_cpp.__file__ == original_file, "__file__ stays stable"

# reloading the same generation again still loads fresh (a private copy)
single_cpp.increment()
importlib.reload(single_cpp)
assert single_cpp.counter() == 0 and single_cpp.get_num() == 20
assert single_cpp.__file__ == original_file
print("OK")
""")
    assert out.strip().endswith("OK")


PYBIND11_SCENARIO = """
finder = GenerationFinder(helper_path=HELPER)
sys.meta_path.insert(0, finder)
finder.serve("cmake_pkg", SPECS["g1"])
import cmake_pkg
from cmake_pkg import Integer as OldInteger
old = cmake_pkg.Integer(3)
pickled = pickle.dumps(old)
finder.serve("cmake_pkg", SPECS["g2"])
try:
    importlib.reload(cmake_pkg)
except ImportError as error:
    print("RELOAD-FAILED", error)
    sys.exit(0)
assert cmake_pkg.get_num() == 20
new = cmake_pkg.Integer(4)
assert type(new) is cmake_pkg.Integer and cmake_pkg.Integer is not OldInteger, "new instances get the new type"
assert type(old) is OldInteger and old.value == 3, "old instances still work"
old.value = 7
assert old.value == 7 and old == OldInteger(7), "old methods run and old names still construct"
assert new == cmake_pkg.Integer(4)
restored = pickle.loads(pickled)
assert type(restored) is cmake_pkg.Integer and restored.value == 3, "a pickle from before unpickles as the new type"
assert pickle.loads(pickle.dumps(new)).value == 4
assert cmake_pkg.Greeter("x").greet() == "hello x"
print("OK")
"""


def test_pybind11_classes_without_helper_fail_as_measured(native, tmp_path):
    specs = {
        "g1": make_package_generation(tmp_path, 1, native["glob10"], native["sub5"]),
        "g2": make_package_generation(tmp_path, 2, native["glob20"], native["sub5"]),
    }
    out = run_scenario(tmp_path, specs, "HELPER = None\n" + PYBIND11_SCENARIO)
    assert 'generic_type: type "Integer" is already registered!' in out


def test_pybind11_helper_lets_classes_reload(native, tmp_path):
    specs = {
        "g1": make_package_generation(tmp_path, 1, native["glob10"], native["sub5"]),
        "g2": make_package_generation(tmp_path, 2, native["glob20"], native["sub5"]),
    }
    out = run_scenario(tmp_path, specs, f"HELPER = {str(native['helper'])!r}\n" + PYBIND11_SCENARIO)
    assert out.strip().endswith("OK"), out
