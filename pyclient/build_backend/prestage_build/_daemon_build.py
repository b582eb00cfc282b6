"""Builds the prestaged binary with the project's own CMakeLists.txt (the one build description).

Only the daemon target: no C++ tests (so no Catch2) and no VS Code extension. CMake's output goes
straight to this process's stdout/stderr, so a failing configure or compile shows its real lines."""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

BUILD_TYPE = "Release"


@contextmanager
def build_directory(config_settings):
    """config_settings["build-dir"] if given (kept, so a rebuild is incremental), else a temporary dir,
    removed after a good build and kept after a failed one so the logs CMake points at still exist."""
    requested = (config_settings or {}).get("build-dir")
    if requested:
        path = Path(requested).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="prestage-build-"))
    try:
        yield path
    except BaseException:
        print(f"prestage_build: the failed build dir is kept at {path}", file=sys.stderr, flush=True)
        raise
    shutil.rmtree(path, ignore_errors=True)


def build_daemon(source_dir, build_dir):
    """Configures and builds the `prestaged` target; returns the path of the binary."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise SystemExit("prestage_build: cmake was not found on PATH; install CMake >= 3.25 and Ninja "
                         "(Debian: apt install cmake ninja-build)")
    configure = [cmake, "-S", str(source_dir), "-B", str(build_dir), f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}",
                 "-DPRESTAGE_BUILD_TESTS=OFF", "-DPRESTAGE_BUILD_VSIX=OFF"]
    fresh = not (Path(build_dir) / "CMakeCache.txt").is_file()
    if fresh and not os.environ.get("CMAKE_GENERATOR") and shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
    _run(configure, "configuring the daemon")
    _run([cmake, "--build", str(build_dir), "--target", "prestaged", "--config", BUILD_TYPE], "building the daemon")
    for candidate in (Path(build_dir) / "server" / "app" / "prestaged",
                      Path(build_dir) / "server" / "app" / BUILD_TYPE / "prestaged"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"prestage_build: the build finished but left no prestaged under {build_dir}/server/app")


def _run(command, what):
    print(f"prestage_build: {shlex.join(command)}", flush=True)
    sys.stderr.flush()
    result = subprocess.run(command)
    if result.returncode != 0:
        raise SystemExit(f"prestage_build: {what} failed (exit {result.returncode}); CMake's messages are above")
