"""Shared helpers for the pyclient tests: subprocess interpreters and hand-built extensions."""
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYCLIENT = REPO / "pyclient"
FIXTURES = REPO / "tests" / "fixtures"
PYTHON = sys.executable
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


# Pasted into scenario scripts (run by run_python): replaces `old` by `new` once in a source file,
# failing when `old` is not there, the way a user's edit-and-save does. Needs `pathlib` imported.
EDIT_FUNCTION = """
import pathlib

def edit(path, old, new):
    path = pathlib.Path(path)
    text = path.read_text()
    assert old in text, (old, str(path))
    path.write_text(text.replace(old, new, 1))
"""


# Pasted into scenario scripts: the files of the generation a module was loaded from. Needs `pathlib`.
TREE_FUNCTION = """
def tree(module):
    '''(generation dir, its files relative to it: no manifest, dist-info or __pycache__).'''
    gen = pathlib.Path(module.__file__).resolve().parent
    while not (gen / "manifest.json").exists():
        gen = gen.parent
    return gen, sorted(str(p.relative_to(gen)) for p in gen.rglob("*")
                       if p.is_file() and p.name != "manifest.json" and ".dist-info" not in str(p.relative_to(gen))
                       and "__pycache__" not in p.parts)
"""


def run_python(code, *, env=None, cwd=None, timeout=600, python=PYTHON, expect_ok=True):
    """Runs `code` in a fresh interpreter with pyclient/ importable; returns the completed process."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(PYCLIENT)] + ([full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else []))
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    result = subprocess.run(
        [python, "-c", textwrap.dedent(code)], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if expect_ok and result.returncode != 0:
        raise AssertionError(
            f"subprocess failed with {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def compile_pybind11(source, output, *extra_flags):
    """g++ build of a pybind11 module against Debian's pybind11 and this Python."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        "g++", "-O0", "-shared", "-fPIC", "-std=c++17", f"-I{sysconfig.get_paths()['include']}",
        "-I/usr/include", *extra_flags, str(source), "-o", str(output),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return output


def copy_tree(source, destination):
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", "build", "__pycache__"))
    return Path(destination)
