"""maturin projects in the layouts maturin supports, and setuptools-rust projects, opened unmodified
(docs/backends/maturin.md, docs/backends/setuptools.md "Rust extensions").

Each case copies its fixtures (tests/fixtures/mat_*) into a fresh directory and runs a fresh
/usr/bin/python3 *from the project directory*: the client opens the project and waits for its first
build, then the case edits a source (also a path dependency outside the crate) and reloads on the
next line. One daemon for the module; each fixture is built once (the dist-info cases reuse the
projects the layout cases built)."""
import importlib.util
import json
import shutil
import uuid

import pytest

from helpers import EDIT_FUNCTION, EXT_SUFFIX, FIXTURES, run_python

PROLOGUE = """
import importlib, json, pathlib, sys
import prestage
prestage.install(wait_timeout=1200)
ROOT = pathlib.Path.cwd()

""" + EDIT_FUNCTION + """
def build_error(action):
    try:
        action()
    except ImportError as error:
        return str(error)
    raise AssertionError("no ImportError")
"""

# case -> (fixtures copied side by side, the one the user works in, the scenario)
CASES = {
    # pyproject at the root, rust/Cargo.toml via manifest-path, Python found in src/ (src layout),
    # features, include / exclude, data, and a path dependency outside the opened root.
    "src_layout": (["mat_src_layout", "mat_outside_dep"], "mat_src_layout", """
import mat_src_layout
from mat_src_layout import helpers
assert mat_src_layout.get_42() == 42 and helpers.helper() == "helper"
assert mat_src_layout.feature_factor() == 2, "[tool.maturin] features = ['doubled']"
assert mat_src_layout.dep_value() == 5
package = pathlib.Path(mat_src_layout.__file__).parent
generation = package.parent
assert not str(package).startswith(str(ROOT)), "served from a generation, not the source tree"
assert (package / ("_native" + EXT_SUFFIX)).is_file(), sorted(p.name for p in package.iterdir())
assert not (package / "_private").exists(), "exclude (wheel format) dropped the package's _private/"
assert not (package / "helpers.py.bak").exists(), "exclude '**/*.bak'"
assert (generation / "mat_src_layout_extra" / "notes.txt").read_text().startswith("notes included")
assert not (generation / "README.md").exists(), "an sdist-only include stays out"
import mat_src_layout_plugin
assert mat_src_layout_plugin.PLUGIN == "from the data dir purelib"
import mat_src_ns.tool  # python-packages naming a namespace package (no __init__.py)
assert mat_src_ns.tool.NAME == "ns-tool" and mat_src_ns.__file__ is None, mat_src_ns
assert not (generation / "mat-src-tool").exists() and not (generation / "scripts").exists()

edit(ROOT.parent / "mat_outside_dep" / "src" / "lib.rs", "    5\\n", "    6\\n")
importlib.reload(mat_src_layout)
assert mat_src_layout.dep_value() == 6, "an edit in the path dependency outside the root rebuilt"
edit(ROOT / "rust" / "src" / "lib.rs", "    42\\n", "    43\\n")
importlib.reload(mat_src_layout)
assert mat_src_layout.get_42() == 43
print("OK")
"""),
    # A virtual workspace root: the extension member is the project; an edit in the sibling crate
    # it depends on by path rebuilds it.
    "workspace": (["mat_workspace"], "mat_workspace", """
import mat_ws
assert mat_ws.value() == 1
edit(ROOT / "crates" / "core" / "src" / "lib.rs", "    1\\n", "    2\\n")
importlib.reload(mat_ws)
assert mat_ws.value() == 2, "an edit in the sibling crate only"
print("OK")
"""),
    # [package.metadata.maturin] name = "mat_legacy.sub.ext" (and its python-source): the extension
    # two levels down, and reload(pkg) loads the new one.
    "legacy_nested": (["mat_legacy"], "mat_legacy", """
import mat_legacy
old = sys.modules["mat_legacy.sub.ext"]
assert mat_legacy.value() == 1
assert old.__file__.endswith("mat_legacy/sub/ext" + EXT_SUFFIX), old.__file__
edit(ROOT / "src" / "lib.rs", "    1\\n", "    2\\n")
importlib.reload(mat_legacy)
assert mat_legacy.value() == 2
ext = sys.modules["mat_legacy.sub.ext"]
assert ext is not old and ext.value() == 2 and mat_legacy.sub.ext is ext
print("OK")
"""),
    # Pure Rust with mat_pure.pyi: __init__.pyi and py.typed; a build script's OUT_DIR file included
    # (from = "out-dir"); features chosen by python-version; cargo's own errors for a missing crate and
    # a lock file pinning a version the registry lacks; the old module keeps working.
    "pure_stub_and_cargo_errors": (["mat_pure"], "mat_pure", """
import mat_pure
package = pathlib.Path(mat_pure.__file__).parent
assert mat_pure.value() == 1
assert (package / "__init__.pyi").read_text() == (ROOT / "mat_pure.pyi").read_text()
assert (package / "py.typed").read_bytes() == b""
assert mat_pure.feature() == "py39-plus", "features = [{ feature, python-version }]: only the matching one"
assert (package / "build-info.txt").read_text() == "written by build.rs", "include from = out-dir, to = mat_pure/"

manifest = ROOT / "Cargo.toml"
good = manifest.read_text()
edit(manifest, "[dependencies]\\n", "[dependencies]\\nprestage_no_such_crate = \\"1\\"\\n")
message = build_error(lambda: importlib.reload(mat_pure))
assert "no matching package named `prestage_no_such_crate` found" in message, message
assert "exited with code" not in message.splitlines()[0], message
assert mat_pure.value() == 1, "the old module keeps working"

manifest.write_text(good)
importlib.reload(mat_pure)
edit(ROOT / "src" / "lib.rs", "    1\\n", "    2\\n")
importlib.reload(mat_pure)
rebuilt = pathlib.Path(mat_pure.__file__).parent
assert mat_pure.value() == 2 and rebuilt != package
assert (rebuilt / "build-info.txt").is_file(), "a build whose build script was fresh includes its OUT_DIR file too"
lock = ROOT / "Cargo.lock"
edit(lock, 'name = "pyo3"\\nversion = "0.17.3"', 'name = "pyo3"\\nversion = "0.17.99"')
message = build_error(lambda: importlib.reload(mat_pure))
assert "failed to select a version for the requirement `pyo3" in message and "0.17.99" in message, message
assert mat_pure.value() == 2
print("OK")
"""),
    # What maturin refuses at build time: abi3 without a minimum version, then a cdylib linking libpython.
    "refused": (["mat_refused"], "mat_refused", """
message = build_error(lambda: importlib.import_module("mat_refused"))
assert "You have selected the `abi3` feature but not a minimum version" in message, message
edit(ROOT / "Cargo.toml", 'features = ["extension-module", "abi3"]', "features = []")
message = build_error(lambda: importlib.import_module("mat_refused"))
assert "Your library links libpython" in message and "extension-module" in message, message
print("OK")
"""),
    # setuptools-rust through setup.py (RustExtension, the crate in native/ with a lib named apart from
    # the module, a feature, a path dependency beside the project): built by setuptools-rust's own
    # build_rust, rustc's errors as diagnostics, nothing written into the sources but Cargo.lock.
    "setuptools_rust_setup_py": (["st_rust", "st_rust_dep"], "st_rust", """
import importlib.metadata as md
import st_rust
assert (st_rust.value(), st_rust.factor(), st_rust.dep_value()) == (10, 3, 7), "features = ['tripled']"
package = pathlib.Path(st_rust.__file__).parent
assert not str(package).startswith(str(ROOT)) and (package / ("_native" + EXT_SUFFIX)).is_file()
assert sorted(p.name for p in ROOT.iterdir()) == ["native", "pyproject.toml", "setup.py", "st_rust"], "no target/ or build/"
assert md.version("st-rust") == "0.2.0"

edit(ROOT / "native" / "src" / "lib.rs", "    10\\n", "    11\\n")
importlib.reload(st_rust)
assert st_rust.value() == 11
edit(ROOT.parent / "st_rust_dep" / "src" / "lib.rs", "    7\\n", "    8\\n")
importlib.reload(st_rust)
assert st_rust.dep_value() == 8, "an edit in the path dependency outside the root rebuilt"
edit(ROOT / "st_rust" / "__init__.py", '"py-0"', '"py-1"')
importlib.reload(st_rust)
assert st_rust.PY_MARK == "py-1" and st_rust.value() == 11

edit(ROOT / "native" / "src" / "lib.rs", "    11\\n", "    undefined_value\\n")
message = build_error(lambda: importlib.reload(st_rust))
assert "native/src/lib.rs:5:" in message and "undefined_value" in message, message
assert st_rust.value() == 11, "the old module keeps working"
# A fresh process: the failed project (its name is setup.py's, unknown to the finder) fails no
# lookup of another distribution.
import subprocess
probe = ("import prestage, importlib.metadata as md\\nprestage.install()\\ntry:\\n"
         "    md.distribution('prestage-no-such-distribution')\\nexcept md.PackageNotFoundError:\\n    print('not found')\\n")
out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
assert out.stdout.strip() == "not found", out.stdout + out.stderr
print("OK")
"""),
    # setuptools-rust configured in pyproject.toml alone (setuptools-rust 1.7's keys, read for older
    # ones too): Python under python/, the lib in rust/lib.rs; the [[bins]] binary is not built.
    "setuptools_rust_pyproject": (["st_rust_toml"], "st_rust_toml", """
import importlib.metadata as md
import st_toml
assert st_toml.sum_as_string(2, 3) == "5" and st_toml.total(1, 2, 3) == 6 and st_toml.mark() == "lib-0"
package = pathlib.Path(st_toml.__file__).parent
assert (package / ("_lib" + EXT_SUFFIX)).is_file()
assert not [p for p in package.parent.rglob("*") if "st-toml-tool" in p.name], "the binary is not staged"
dist = md.distribution("st-toml")
assert dist.version == "1.4.0" and [e.value for e in dist.entry_points] == ["st_toml:total"]

edit(ROOT / "rust" / "lib.rs", '"lib-0"', '"lib-1"')
importlib.reload(st_toml)
assert st_toml.mark() == "lib-1"

manifest = ROOT / "Cargo.toml"
good = manifest.read_text()
edit(manifest, "[dependencies]\\n", "[dependencies]\\nprestage_no_such_crate = \\"1\\"\\n")
message = build_error(lambda: importlib.reload(st_toml))
assert "Cargo.toml" in message and "no matching package named `prestage_no_such_crate` found" in message, message
assert st_toml.mark() == "lib-1", "the old module keeps working"
manifest.write_text(good)
importlib.reload(st_toml)
print("OK")
"""),
}

_roots = {}


def copy_case(daemon, case):
    fixtures, project, _ = CASES[case]
    parent = daemon.workspace / f"{case}-{uuid.uuid4().hex[:6]}"
    parent.mkdir()
    for name in fixtures:
        shutil.copytree(FIXTURES / name, parent / name, ignore=shutil.ignore_patterns("target", "__pycache__"))
    return parent / project


def scenario(daemon, root, body):
    result = run_python(PROLOGUE + f"EXT_SUFFIX = {json.dumps(EXT_SUFFIX)}\n" + body, env=daemon.env, cwd=root, timeout=2400)
    assert result.stdout.strip().endswith("OK"), result.stdout + result.stderr
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_layout(daemon, case):
    if case.startswith("setuptools_rust") and importlib.util.find_spec("setuptools_rust") is None:
        pytest.skip("setuptools_rust is not importable (Debian: python3-setuptools-rust, in .ci/setup.sh)")
    root = copy_case(daemon, case)
    _roots[case] = root
    scenario(daemon, root, CASES[case][2])


DIST_INFO = """
import importlib.metadata as md
__import__(MODULE)
dist = md.distribution(DIST)
assert dist.version == VERSION, dist.version
scripts = {e.name: e.value for e in dist.entry_points if e.group == "console_scripts"}
assert scripts == SCRIPTS, scripts
print("OK")
"""


@pytest.mark.parametrize("case,module,dist,version,scripts", [
    ("src_layout", "mat_src_layout", "mat-src-layout", "0.3.1", {"mat-src-hello": "mat_src_layout:hello"}),
    ("workspace", "mat_ws", "mat-ws", "1.2.3", {}),  # no [project] version; version.workspace = true
])
def test_dist_info(daemon, case, module, dist, version, scripts):
    root = _roots.get(case) or copy_case(daemon, case)
    values = f"MODULE, DIST, VERSION, SCRIPTS = {module!r}, {dist!r}, {version!r}, {scripts!r}\n"
    scenario(daemon, root, values + DIST_INFO)
