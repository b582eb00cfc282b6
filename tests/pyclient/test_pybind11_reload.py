"""pybind11 classes across reloads, the way real modules bind them.

The daemon builds tests/fixtures/pb11_features (cmake, g++, Debian's pybind11); a fresh interpreter
imports it, then edits src/generation.cpp three times (1 -> 2 -> 3 -> 4) and reloads after each,
keeping objects of every generation and crossing them with every generation's functions. Each
scenario runs in a subprocess whose exit status is asserted, so a crash fails the test.
Layout changes, failed loads and single-file reloads use hand-compiled copies (gen_harness)."""
import os
import shutil
import signal
import subprocess

import pytest

from conftest import Daemon, server_binary
from helpers import EXT_SUFFIX, FIXTURES, PYCLIENT, compile_pybind11, run_python
from test_daemon_reload import PROLOGUE, opened  # noqa: F401 - `opened` is a fixture


def run_checked(code, **kwargs):
    """run_python, failing with the signal's name when the interpreter crashed."""
    result = run_python(code, expect_ok=False, **kwargs)
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        pytest.fail(f"the scenario's interpreter was killed by {name}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-6000:]}")
    assert result.returncode == 0, f"exit status {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-6000:]}"
    assert result.stdout.strip().endswith("OK"), result.stdout
    return result


# Objects of one generation, made through that generation's own module object.
MAKE_AND_CHECK = '''
def make(core):
    class PyDog(core.Animal):  # a Python subclass of a trampoline class
        def go(self, times):
            return "woof" * times
    bag = core.Bag()
    bag.extra, bag.size = "dynamic", 2
    counts = core.StrIntMap()
    counts["a"] = 4
    return {
        "pet": core.Pet("rex"), "dog": core.Dog("fido"), "made_dog": core.make_dog("max"),
        "duck": core.Duck(), "plane": core.Seaplane(), "widget": core.Widget(5), "node": core.make_node(6),
        "gadget": core.Gadget(7), "color": core.Color.green, "local": core.LocalThing(), "bag": bag,
        "vector": core.IntVector([1, 2, 3]), "map": counts, "point": core.Point(1, 2),
        "sub": core.sub.SubThing(8), "pydog": PyDog(),
    }

def use(objects, code, g):
    """Generation g's functions (module `code`) given `objects` of any generation."""
    assert code.generation() == g
    assert code.pet_name(objects["pet"]) == f"rex@{g}"
    assert code.pet_name(objects["dog"]) == f"fido@{g}", "a derived object passed as its base"
    assert code.pet_name(objects["made_dog"]) == f"max@{g}"
    assert code.flyer_height(objects["duck"]) == 700 + g and code.swimmer_depth(objects["duck"]) == 300 + g
    assert code.flyer_height(objects["plane"]) == 700 + g, "py::multiple_inheritance: the second C++ base"
    assert code.widget_value(objects["widget"]) == 500 + g, "std::shared_ptr holder"
    assert code.widget_owners(objects["widget"]) >= 1
    assert code.node_value(objects["node"]) == 600 + g
    assert code.gadget_value(objects["gadget"]) == 700 + g, "custom holder"
    assert code.color_name(objects["color"]) == f"green@{g}"
    assert code.local_value(objects["local"]) == 1100 + g, "py::module_local"
    assert code.bag_size(objects["bag"]) == 200 + g
    assert code.vector_sum(objects["vector"]) == 600 + g and code.map_total(objects["map"]) == 400 + g
    assert code.sub.sub_thing_value(objects["sub"]) == 800 + g and code.sub.sub_value() == f"sub@{g}"
    assert code.call_go(objects["pydog"], 2) == f"woofwoof via call_go@{g}", "PYBIND11_OVERRIDE finds the override"
    same = code.same_widget(objects["widget"])
    assert same is objects["widget"], "a holder passed back returns the same Python object"

def own_methods(objects, g):
    """Objects of generation g: their methods (inherited ones too) run generation g's code."""
    assert objects["dog"].speak() == f"fido speaks@{g}" and objects["dog"].bark() == f"fido barks@{g}"
    assert objects["dog"].name == "fido"
    assert objects["duck"].fly() == f"fly 7@{g}" and objects["duck"].swim() == f"swim 3@{g}" and objects["duck"].quack() == f"quack@{g}"
    objects["plane"].height = 7
    assert objects["sub"].value() == 800 + g and objects["point"].where() == f"1,2@{g}"
    assert objects["bag"].extra == "dynamic" and list(objects["vector"]) == [1, 2, 3] and objects["map"]["a"] == 4
    assert int(objects["color"]) == 2 and objects["color"].name == "green"
    assert objects["pydog"].go(1) == "woof"
'''

PACKAGE_SCENARIO = MAKE_AND_CHECK + '''
prestage.install()
import pb11_features
from pb11_features import _core as first
pickled = pickle.dumps(first.Point(3, 4))
generations = [(first, make(first), 1)]
use(generations[0][1], first, 1)
for g in (2, 3, 4):
    change("pb11_features", pathlib.Path(ROOT, "src", "generation.cpp"), f"return {g - 1};", f"return {g};")
    importlib.reload(pb11_features)
    core = pb11_features._core
    assert core.generation() == g and pb11_features.generation() == g
    assert sys.modules["pb11_features._core.sub"] is core.sub, "the submodule is the new copy's"
    generations.append((core, make(core), g))
    for code, _, code_g in generations:  # every generation's code with every generation's objects
        for _, objects, objects_g in generations:
            use(objects, code, code_g)
            own_methods(objects, objects_g)
    for code, objects, code_g in generations:
        assert isinstance(objects["dog"], core.Pet) and isinstance(objects["dog"], core.Dog), "old objects are instances of the new classes"
        assert isinstance(objects["pydog"], core.Animal) and isinstance(objects["widget"], core.Widget)
        assert isinstance(objects["color"], core.Color) and isinstance(objects["sub"], core.sub.SubThing)
        if code_g != g:
            assert not isinstance(generations[-1][1]["dog"], code.Dog), "new objects are not instances of old classes"
            assert objects["color"] != core.Color.green and int(objects["color"]) == int(core.Color.green), "enums compare by class"
        assert objects["point"] == core.Point(1, 2) and core.Point(1, 2) == objects["point"], "__eq__ across generations"
        try:
            code.raise_feature_error()
        except code.FeatureError as error:  # the class of the code that raised
            assert str(error) == f"feature@{code_g}" and isinstance(error, core.FeatureError)
        else:
            raise AssertionError("no FeatureError")
        try:
            code.raise_translated()
        except LookupError as error:
            assert str(error) == f"translated@{code_g} translated@{code_g}", "the translator of the code that threw"
        if code_g != g:
            try:
                pickle.dumps(objects["point"])
            except pickle.PicklingError:
                pass  # as for any class importlib.reload replaced
            else:
                raise AssertionError("an object of a replaced class pickled")
    restored = pickle.loads(pickled)
    assert type(restored) is core.Point and restored.where() == f"3,4@{g}", "a pickle from before loads as the new class"
    assert pickle.loads(pickle.dumps(generations[-1][1]["point"])).x == 1
    assert pb11_features.Dog("x").speak() == f"x speaks@{g}"
    print("generation", g, "ok", flush=True)
first_objects = generations[0][1]
del generations, first_objects
import gc; gc.collect()
print("OK")
'''


def test_pb11_features_three_reloads(daemon, opened):  # noqa: F811
    root = opened("pb11_features")
    run_checked(PROLOGUE + f"ROOT = {str(root)!r}\n" + PACKAGE_SCENARIO, env=daemon.env, timeout=1800)


@pytest.mark.skipif(os.environ.get("PRESTAGE_PYBIND11_ASAN") != "1", reason="run by .ci/sanitize.sh (PRESTAGE_PYBIND11_ASAN=1)")
def test_pb11_features_three_reloads_under_asan(tmp_path):
    """The same scenario with the fixture and the helper built with -fsanitize=address (the daemon
    passes its CXXFLAGS to CMake and to the helper) and libasan preloaded into the interpreter."""
    binary = server_binary()
    # libstdc++ too: python3 does not link it, and ASan's __cxa_throw interceptor needs it loaded.
    libraries = [
        subprocess.run(["g++", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
        for name in ("libasan.so", "libstdc++.so.6")
    ]
    if binary is None or not all(os.path.isfile(library) for library in libraries):
        pytest.skip("needs prestaged, libasan and libstdc++")
    sanitized = {"CXXFLAGS": "-fsanitize=address -fno-omit-frame-pointer", "LDFLAGS": "-fsanitize=address"}
    instance = Daemon(tmp_path, binary, extra_env=sanitized)
    try:
        root = instance.open_copy("pb11_features")
        instance.wait_built(instance.open(root)["id"])
        env = {**instance.env, "LD_PRELOAD": " ".join(libraries), "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0"}
        run_checked(PROLOGUE + f"ROOT = {str(root)!r}\n" + PACKAGE_SCENARIO, env=env, timeout=2400)
    finally:
        instance.stop()


SINGLE = FIXTURES / "single" / "pb11_single.cpp"


@pytest.fixture(scope="module")
def single_variants(tmp_path_factory):
    """pb11_single built four ways, in parallel: g1, g2 (same layout), failing, g3 (wider classes)."""
    root = tmp_path_factory.mktemp("pb11_single")
    variants = {
        "g1": ["-DGEN=1"], "g2": ["-DGEN=2"], "failing": ["-DGEN=3", "-DFAIL=1"], "g3": ["-DGEN=3", "-DWIDE=1"],
        "helper": None,
    }
    from concurrent.futures import ThreadPoolExecutor

    def build(item):
        key, flags = item
        source = PYCLIENT / "native" / "prestage_pybind11.cpp" if flags is None else SINGLE
        return key, compile_pybind11(source, root / key / f"out{EXT_SUFFIX}", "-fvisibility=hidden", *(flags or []))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(build, variants.items()))


def _single_generations(root, variants):
    specs = {}
    for number, key in enumerate(("g1", "g2", "failing", "g3"), start=1):
        entry = root / f"gen-{number}"
        entry.mkdir()
        target = entry / f"pb11_single{EXT_SUFFIX}"
        shutil.copyfile(variants[key], target)
        specs[key] = {
            "project": "offline-pb11", "generation": number, "origin": str(target), "submodule_search_locations": None,
            "path_entry": str(entry), "artifacts": [{"module": "pb11_single", "path": str(target), "sha256": key}],
        }
    return specs


def test_single_file_submodules_failed_load_and_layout_change(single_variants, tmp_path):
    import json

    specs = _single_generations(tmp_path, single_variants)
    code = f"""
import importlib, json, sys
sys.path.insert(0, {str(PYCLIENT.parent / 'tests' / 'pyclient')!r})
from gen_harness import GenerationFinder
SPECS = json.loads({json.dumps(json.dumps(specs))})
finder = GenerationFinder(helper_path={str(single_variants['helper'])!r})
sys.meta_path.insert(0, finder)
finder.serve("pb11_single", SPECS["g1"])
import pb11_single as m
from pb11_single import shape_side as shape_side_1, shared_side as shared_side_1
shape, shared, inner, sub_1 = m.Shape(4), m.Shared(6), m.sub.Inner(), m.sub
assert m.sub.sub_value() == 1 and sys.modules["pb11_single.sub"] is sub_1

finder.serve("pb11_single", SPECS["g2"])
importlib.reload(m)
assert m.generation() == 2 and m.sub is not sub_1 and sys.modules["pb11_single.sub"] is m.sub
assert m.sub.sub_value() == 2 and sub_1.sub_value() == 1, "def_submodule: the fresh copy has its own submodule"
assert m.sub.inner_value(inner) == 52 and m.shape_side(shape) == 42 and m.shared_side(shared) == 62
sub_2 = m.sub

finder.serve("pb11_single", SPECS["failing"])
try:
    importlib.reload(m)
except Exception as error:
    assert "init failed on purpose" in str(error), error
else:
    raise AssertionError("the failing copy loaded")
assert m.generation() == 2 and m.sub is sub_2 and sys.modules["pb11_single.sub"] is sub_2, "a failed load leaves the module as it was"
assert m.shape_side(m.Shape(1)) == 12 and m.shared_side(shared) == 62 and m.sub.inner_value(m.sub.Inner()) == 52

finder.serve("pb11_single", SPECS["g3"])
importlib.reload(m)  # no 'already registered': the failed load was rolled back
assert m.generation() == 3 and m.shape_side(m.Shape(2)) == 23 and m.shared_side(m.Shared(2)) == 23
assert m.sub.inner_value(inner) == 53, "an unchanged class still merges"
for call, argument in ((m.shape_side, shape), (m.shared_side, shared)):
    try:
        call(argument)
    except TypeError as error:
        assert "changed its size" in str(error) and "before a reload" in str(error), error
    else:
        raise AssertionError("new code read an object whose layout changed")
assert shape_side_1(shape) == 41, "the old code still uses its own objects"
try:
    shared_side_1(shared)
except TypeError as error:
    assert "holder" in str(error), error
else:
    raise AssertionError("a holder of a kept-apart class was passed on")
assert not isinstance(shape, m.Shape)
print("OK")
"""
    result = run_checked(code)
    assert "changed its size" in result.stderr, "the reload says which classes were kept apart"
