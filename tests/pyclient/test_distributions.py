"""importlib.metadata from the generation: each build of a Python project stages a .dist-info.

Each case copies a fixture, gives its pyproject.toml metadata a user would write ([project.scripts],
an optional dependency, a dist name spelled differently from the module), and runs a fresh
/usr/bin/python3 from the project directory against the real daemon: version() before the first
import, the console script from entry_points(), metadata() and requires(), then an edit of the
version and importlib.reload(), then a distribution nobody provides."""
import re
import uuid

import pytest

from helpers import EDIT_FUNCTION, run_python

SCENARIO = r"""
import importlib, importlib.metadata as md, pathlib, sys
import prestage
prestage.install()

""" + EDIT_FUNCTION + r"""
# Before any import: found through prestage's finder, in the newest generation.
assert MODULE not in sys.modules
assert md.version(DIST_LOOKUP) == "1.0.0", md.version(DIST_LOOKUP)
dist = md.distribution(DIST_LOOKUP)
assert "/gen-" in str(dist.locate_file("")), dist.locate_file("")
meta = md.metadata(DIST_LOOKUP)
assert meta["Name"] == DIST_NAME and meta["Summary"] == "Metadata from the generation", dict(meta)
assert meta["Requires-Python"] == ">=3.9"
assert 'pytest>=7; extra == "test"' in md.requires(DIST_LOOKUP), md.requires(DIST_LOOKUP)
assert "test" in meta.get_all("Provides-Extra")
scripts = [ep for ep in md.entry_points(group="console_scripts") if ep.name == "dist-cli"]
assert len(scripts) == 1 and scripts[0].value == MODULE + ":cli", scripts
plugins = md.entry_points(group="dist_test.plugins")
assert [ep.value for ep in plugins] == [MODULE + ":plugin"], list(plugins)
files = {str(f) for f in dist.files}
assert MODULE + "/__init__.py" in files, files
assert any(f.startswith(MODULE + "/") and f.endswith(".so") for f in files), files
assert md.version(DIST_LOOKUP) == "1.0.0"
assert MODULE not in sys.modules, "a metadata lookup must not import the package"

module = importlib.import_module(MODULE)
assert scripts[0].load()() == "cli-ok"
assert md.version(DIST_LOOKUP) == "1.0.0"

# A new version in the project's metadata, then a reload: the newest generation's dist-info.
edit(VERSION_FILE, VERSION_LINE.replace("X", "1.0.0"), VERSION_LINE.replace("X", "1.1.0"))
importlib.reload(module)
assert md.version(DIST_LOOKUP) == "1.1.0", md.version(DIST_LOOKUP)
assert len([d for d in md.distributions() if d.metadata["Name"] == DIST_NAME]) == 1

try:
    md.version("prestage-no-such-distribution")
except md.PackageNotFoundError:
    pass
else:
    raise AssertionError("a distribution nobody provides must raise PackageNotFoundError")
print("DISTRIBUTIONS-OK")
"""

PROJECT_METADATA = """description = "Metadata from the generation"
optional-dependencies = { test = ["pytest>=7"] }

[project.scripts]
dist-cli = "{module}:cli"

[project.entry-points."dist_test.plugins"]
one = "{module}:plugin"
"""

INIT_ADDITION = """

def cli():
    return "cli-ok"


def plugin():
    return "plugin-ok"
"""


def _prepare_cmake(root):
    """skbuild_c with a static version in pyproject.toml."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text().replace('name = "skbuild_c"', 'name = "skbuild-c"').replace('version = "0.1.0"', 'version = "1.0.0"')
    text = text.replace('requires-python = ">=3.9"\n', 'requires-python = ">=3.9"\n' + PROJECT_METADATA.replace("{module}", "skbuild_c"))
    pyproject.write_text(text)
    with open(root / "src" / "skbuild_c" / "__init__.py", "a") as init:
        init.write(INIT_ADDITION)
    return {"MODULE": "skbuild_c", "DIST_NAME": "skbuild-c", "DIST_LOOKUP": "Skbuild.C", "VERSION_FILE": str(pyproject),
            "VERSION_LINE": 'version = "X"'}


def _prepare_cargo(root):
    """maturin_mixed with `dynamic = ["version"]`: the version comes from Cargo.toml, as maturin takes it."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text().replace('version = "0.1.0"\n', 'dynamic = ["version"]\n')
    text = text.replace('requires-python = ">=3.9"\n', 'requires-python = ">=3.9"\n' + PROJECT_METADATA.replace("{module}", "maturin_mixed"))
    pyproject.write_text(text)
    cargo = root / "Cargo.toml"
    cargo.write_text(re.sub(r'(?m)^version = "0.1.0"$', 'version = "1.0.0"', cargo.read_text(), count=1))
    with open(root / "python" / "maturin_mixed" / "__init__.py", "a") as init:
        init.write(INIT_ADDITION)
    return {"MODULE": "maturin_mixed", "DIST_NAME": "maturin_mixed", "DIST_LOOKUP": "Maturin-Mixed",
            "VERSION_FILE": str(cargo), "VERSION_LINE": 'version = "X"'}


@pytest.mark.parametrize("fixture, prepare", [("skbuild_c", _prepare_cmake), ("maturin_mixed", _prepare_cargo)],
                         ids=["cmake-static-version", "cargo-version-from-Cargo.toml"])
def test_importlib_metadata_reads_the_generation(daemon, fixture, prepare):
    parent = daemon.workspace / uuid.uuid4().hex[:8]
    parent.mkdir()
    root = daemon.open_copy(fixture, name=f"{parent.name}/{fixture}")
    values = prepare(root)
    constants = "".join(f"{key} = {value!r}\n" for key, value in values.items())
    try:
        result = run_python(constants + SCENARIO, env=daemon.env, cwd=root, timeout=1200)
        assert "DISTRIBUTIONS-OK" in result.stdout, result.stdout + result.stderr
    finally:
        try:
            daemon.client.call("project/close", {"root": str(root)})
        except Exception:  # noqa: BLE001 - never opened is fine here
            pass
