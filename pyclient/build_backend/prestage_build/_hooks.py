"""The PEP 517 hooks: what goes into the wheel and the sdist, and under which names."""
import os
import sysconfig
from pathlib import Path

from ._archives import WheelWriter, write_sdist
from ._daemon_build import build_daemon, build_directory
from ._metadata import Project

SOURCE_DIR = Path(__file__).resolve().parents[3]  # pyclient/build_backend/prestage_build -> the repository
PACKAGE_DIR = SOURCE_DIR / "pyclient" / "prestage"
HELPER_SOURCE = SOURCE_DIR / "pyclient" / "native" / "prestage_pybind11.cpp"

# What an sdist needs to build the daemon and the package again; tests/, bench/, vscode-ext/ stay out.
SDIST_PATHS = ("pyproject.toml", "CMakeLists.txt", "README.md", "server", "schemas", "pyclient", "docs/install.md")
_SKIPPED_NAMES = {"__pycache__", ".git", "build", "node_modules"}


def wheel_tag():
    """py3-none-<platform>: the daemon is a native program, but it does not use the Python ABI. The
    plain platform tag (linux_x86_64), not manylinux: the binary links this system's toml++, spdlog,
    fmt and libcrypto shared libraries, so it is only promised to run on a system like the one that built it."""
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{platform}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _write_dist_info_files(project, add):
    add("METADATA", project.core_metadata())
    add("WHEEL", f"Wheel-Version: 1.0\nGenerator: prestage_build\nRoot-Is-Purelib: false\nTag: {wheel_tag()}\n")
    if project.entry_points():
        add("entry_points.txt", project.entry_points())


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project = Project(SOURCE_DIR)
    target = Path(metadata_directory) / project.dist_info
    target.mkdir(parents=True, exist_ok=True)
    _write_dist_info_files(project, lambda name, text: (target / name).write_text(text, encoding="utf-8"))
    return project.dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = Project(SOURCE_DIR)
    name = f"{project.distribution}-{project.version}-{wheel_tag()}.whl"
    wheel = WheelWriter(str(Path(wheel_directory) / name), project.dist_info)
    for source in _package_files(PACKAGE_DIR):
        wheel.add_file(f"prestage/{source.relative_to(PACKAGE_DIR).as_posix()}", source)
    # Where _pybind11.py looks first in an installed copy (the daemon embeds its own copy at build time).
    wheel.add_file("prestage/native/prestage_pybind11.cpp", HELPER_SOURCE)
    with build_directory(config_settings) as build_dir:
        daemon = build_daemon(SOURCE_DIR, build_dir)
        wheel.add_file("prestage/bin/prestaged", daemon)  # where _discovery.py looks for the bundled daemon
    _write_dist_info_files(project, lambda file, text: wheel.add_bytes(f"{project.dist_info}/{file}", text.encode()))
    wheel.write()
    return name


def build_sdist(sdist_directory, config_settings=None):
    project = Project(SOURCE_DIR)
    prefix = f"{project.distribution}-{project.version}"
    files = []
    for relative in SDIST_PATHS:
        path = SOURCE_DIR / relative
        if path.is_file():
            files.append((relative, path))
        elif path.is_dir():
            files += [(source.relative_to(SOURCE_DIR).as_posix(), source) for source in _package_files(path)]
    write_sdist(str(Path(sdist_directory) / f"{prefix}.tar.gz"), prefix, files, project.core_metadata())
    return f"{prefix}.tar.gz"


def _package_files(root):
    """Regular files under root, without caches, VCS data or build trees."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in _SKIPPED_NAMES and not d.startswith("build-"))
        found += [Path(directory) / name for name in sorted(names) if not name.endswith((".pyc", ".pyo"))]
    return found
