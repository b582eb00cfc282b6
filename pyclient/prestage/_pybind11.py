"""Fallback build of the _prestage_pybind11 helper when the daemon did not supply one.

The helper must share the project's pybind11 internals; without a path from the daemon
(`pybind11_helper` in spec/resolve) this builds it once against the system pybind11 headers."""
import hashlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# An installed copy carries the source inside the package; a checkout has it in pyclient/native.
_SOURCE = next((path for path in (_PACKAGE / "native" / "prestage_pybind11.cpp",
                                  _PACKAGE.parent / "native" / "prestage_pybind11.cpp") if path.is_file()),
               _PACKAGE.parent / "native" / "prestage_pybind11.cpp")
_lock = threading.Lock()
_cache = {}


def _pybind11_include():
    for candidate in (os.environ.get("PRESTAGE_PYBIND11_INCLUDE"), "/usr/include", "/usr/local/include"):
        if candidate and Path(candidate, "pybind11", "pybind11.h").is_file():
            return candidate
    return None


def build_default_helper_blocking(cache_dir):
    """Path of a helper built against the system pybind11, or None. Blocks while g++ compiles it
    (seconds, once per cache dir); the finder calls it only when the daemon named no helper."""
    with _lock:
        if cache_dir in _cache:
            return _cache[cache_dir]
        _cache[cache_dir] = path = _build(Path(cache_dir))
        return path


def _build(cache_dir):
    include = _pybind11_include()
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if include is None or compiler is None or not _SOURCE.is_file():
        return None
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    key = hashlib.sha256(_SOURCE.read_bytes() + include.encode() + sys.version.encode()).hexdigest()[:16]
    target = cache_dir / "pybind11-helper" / key / f"_prestage_pybind11{suffix}"
    if target.is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    command = [
        compiler, "-O2", "-shared", "-fPIC", "-std=c++17", f"-I{include}",
        f"-I{sysconfig.get_paths()['include']}", str(_SOURCE), "-o", str(partial),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(f"prestage: building the pybind11 helper failed:\n{result.stderr[-2000:]}\n")
        return None
    os.replace(partial, target)
    return str(target)
