"""Installing prestage as a user does: pip into a fresh venv, pip wheel, sdist, cmake --install.

The daemon is compiled once per run: `pip install --no-build-isolation <clean copy>` builds it in a
CMake build dir passed with `--config-settings build-dir=...`, and `pip wheel` of the same copy reuses that dir, so
its CMake step is a no-op. Both pip commands a user runs are exercised, with one compile between them.
Every command runs with no PYTHONPATH and no PRESTAGE_SERVER, and fails on a timeout instead of hanging."""
import base64
import csv
import hashlib
import io
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sysconfig
import tarfile
import textwrap
import time
import types
import zipfile

import pytest

from conftest import FIXTURES, PYTHON, REPO, SERVER

PIP_GUARD_S = 2400   # a cold daemon build on 2 busy cores, with room; failure guards only
RUN_GUARD_S = 600
STOP_GUARD_S = 20
FIND_SERVER = "from prestage import _discovery; print(_discovery.find_server_executable())"


def clean_env(**extra):
    """os.environ without anything that would point the installed client at this checkout."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PRESTAGE_SERVER", "PRESTAGE_STATE_DIR", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_CONFIG_FILE=os.devnull,
               PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def run(command, *, timeout=RUN_GUARD_S, env=None, cwd=None, expect_ok=True):
    try:
        result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout,
                                env=env or clean_env(), cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{command[0]} ... did not finish within {timeout} s\n--- output\n{error.stdout}\n{error.stderr}")
    if expect_ok:
        assert result.returncode == 0, (
            f"{' '.join(map(str, command))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}")
    return result


def copy_repository(destination):
    """The files git knows (tracked, plus untracked but not ignored): no build/, no node_modules."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the clean copy is made with git ls-files; this tree is not a git checkout")
    listed = run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    for relative in filter(None, listed.stdout.split("\0")):
        source = REPO / relative
        if source.is_file():
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / relative)
    return destination


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with `pip install --no-build-isolation` of a clean copy, and the wheel `pip wheel` made."""
    root = tmp_path_factory.mktemp("install")
    source = copy_repository(root / "prestage-src")
    venv = root / "venv"
    run([PYTHON, "-m", "venv", venv])
    python = venv / "bin" / "python"
    build_setting = f"build-dir={root / 'cmake-build'}"
    pip = [python, "-m", "pip"]
    run([*pip, "install", "--no-build-isolation", "--config-settings", build_setting, source], timeout=PIP_GUARD_S)
    run([*pip, "wheel", "--no-build-isolation", "--no-deps", "--config-settings", build_setting, "-w", root / "dist",
         source], timeout=PIP_GUARD_S)
    package = pathlib.Path(run([python, "-c", "import prestage, os; print(os.path.dirname(prestage.__file__))"],
                               cwd=root).stdout.strip())
    version = run([python, "-c", "import prestage; print(prestage.__version__)"], cwd=root).stdout.strip()
    return types.SimpleNamespace(root=root, source=source, venv=venv, python=python, package=package,
                                 version=version, wheels=sorted((root / "dist").glob("*.whl")))


def test_pip_install_puts_the_package_its_daemon_and_the_command_in_the_venv(installed):
    assert installed.package.is_relative_to(installed.venv), installed.package
    daemon = installed.package / "bin" / "prestaged"
    assert daemon.is_file() and os.access(daemon, os.X_OK), f"no executable bundled daemon at {daemon}"
    assert run([daemon, "--version"]).stdout.strip() == f"prestaged {installed.version}"
    assert (installed.package / "native" / "prestage_pybind11.cpp").is_file()
    assert (installed.venv / "bin" / "prestage").is_file(), "pip made no prestage console script"
    found = run([installed.python, "-c", textwrap.dedent("""
        from prestage import _discovery, _pybind11
        print(_discovery.find_server_executable())
        print(_pybind11._SOURCE)
    """)], cwd=installed.root, env=clean_env(PATH="/usr/bin:/bin")).stdout.split()
    assert found == [str(daemon), str(installed.package / "native" / "prestage_pybind11.cpp")]
    # PRESTAGE_SERVER still overrides the bundled daemon.
    override = run([installed.python, "-c", FIND_SERVER], cwd=installed.root,
                   env=clean_env(PRESTAGE_SERVER="/opt/elsewhere/prestaged")).stdout.strip()
    assert override == "/opt/elsewhere/prestaged"


def test_prestage_command_help_and_doctor(installed, tmp_path):
    result = run([installed.venv / "bin" / "prestage", "--help"], cwd=installed.root)
    assert "status" in result.stdout and "doctor" in result.stdout, result.stdout
    # doctor, with no PYTHONPATH: it finds this machine's tools and the venv's own bundled daemon.
    doctor = run([installed.venv / "bin" / "prestage", "doctor"], cwd=tmp_path,
                 env=clean_env(PRESTAGE_STATE_DIR=str(tmp_path / "state")))
    assert str(installed.package / "bin" / "prestaged") in doctor.stdout, doctor.stdout
    assert "inotify" in doctor.stdout and "everything essential was found" in doctor.stdout, doctor.stdout


RELOAD_SCRIPT = """
import importlib, pathlib, sys
import prestage
source = pathlib.Path(sys.argv[1])
assert pathlib.Path(prestage.__file__).is_relative_to(sys.prefix), prestage.__file__
prestage.install()
sys.path.insert(0, str(source.parent))
import single_cpp
print("BEFORE", single_cpp.get_num())
source.write_text(source.read_text().replace("return 10;", "return 20;", 1))
importlib.reload(single_cpp)
print("AFTER", single_cpp.get_num())
"""


def test_single_cpp_reloads_through_the_installed_package_and_its_own_daemon(installed, tmp_path):
    state = tmp_path / "state"
    work = tmp_path / "work"
    work.mkdir()
    source = work / "single_cpp.cpp"
    shutil.copyfile(FIXTURES / "single" / "single_cpp.cpp", source)
    try:
        result = run([installed.python, "-c", RELOAD_SCRIPT, source], cwd=tmp_path,
                     env=clean_env(PRESTAGE_STATE_DIR=str(state)), timeout=RUN_GUARD_S)
        assert "BEFORE 10" in result.stdout and "AFTER 20" in result.stdout, result.stdout + result.stderr
        pid = int(re.search(r'"pid":\s*(\d+)', (state / "server.json").read_text()).group(1))
        assert pathlib.Path(f"/proc/{pid}/exe").resolve() == installed.package / "bin" / "prestaged", \
            "the auto-started daemon is not the bundled one"
    finally:
        stop_daemon(state)


def stop_daemon(state):
    try:
        pid = int(re.search(r'"pid":\s*(\d+)', (state / "server.json").read_text()).group(1))
        os.kill(pid, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # never started, or already gone
    deadline = time.monotonic() + STOP_GUARD_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"the auto-started prestaged {pid} did not exit within {STOP_GUARD_S} s of SIGTERM")


def test_pip_wheel_is_tagged_for_this_platform_and_records_the_daemon(installed):
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert [wheel.name for wheel in installed.wheels] == [f"prestage-{installed.version}-py3-none-{platform}.whl"]
    dist_info = f"prestage-{installed.version}.dist-info"
    with zipfile.ZipFile(installed.wheels[0]) as wheel:
        rows = {row[0]: row for row in csv.reader(io.StringIO(wheel.read(f"{dist_info}/RECORD").decode()))}
        assert "prestage/bin/prestaged" in rows and "prestage/native/prestage_pybind11.cpp" in rows
        assert set(rows) == set(wheel.namelist()), "RECORD must list exactly the files in the wheel"
        for name, digest, size in rows.values():
            if name != f"{dist_info}/RECORD":
                data = wheel.read(name)
                expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert (digest, int(size)) == (expected, len(data)), name
        assert (wheel.getinfo("prestage/bin/prestaged").external_attr >> 16) & 0o111, "the daemon lost its x bit"
        assert f"Tag: py3-none-{platform}" in wheel.read(f"{dist_info}/WHEEL").decode()
        assert "prestage = prestage.cli:main" in wheel.read(f"{dist_info}/entry_points.txt").decode()


def test_sdist_carries_what_the_build_needs_and_no_tests(tmp_path):
    backend = REPO / "pyclient" / "build_backend"
    code = (f"import sys; sys.path.insert(0, {str(backend)!r})\n"
            "import prestage_build; print(prestage_build.build_sdist(sys.argv[1]))")
    name = run([PYTHON, "-c", code, tmp_path], cwd=REPO).stdout.strip()
    with tarfile.open(tmp_path / name) as sdist:
        top = name[: -len(".tar.gz")]
        members = {member.name[len(top) + 1:] for member in sdist.getmembers()}
    for needed in ("PKG-INFO", "pyproject.toml", "CMakeLists.txt", "server/app/main.cpp", "server/cmake/install.cmake",
                   "schemas/error-codes.json", "pyclient/prestage/__init__.py", "pyclient/native/prestage_pybind11.cpp",
                   "pyclient/build_backend/prestage_build/__init__.py"):
        assert needed in members, f"{needed} missing from {name}"
    unwanted = sorted(m for m in members if m.startswith(("tests/", "build", "vscode-ext/")) or "__pycache__" in m)
    assert not unwanted, unwanted[:5]


def test_cmake_install_puts_daemon_package_and_command_under_the_prefix(tmp_path):
    build = SERVER.resolve().parents[2]  # <build>/server/app/prestaged
    if not (build / "CMakeCache.txt").is_file():
        pytest.skip(f"no CMake build dir behind {SERVER}")
    if "prestaged" not in (build / "cmake_install.cmake").read_text():
        pytest.skip(f"{build} was configured before the install rules existed; configure it again")
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", build, "--prefix", prefix])
    cache = (build / "CMakeCache.txt").read_text()
    python_dir = re.search(r"^PRESTAGE_PYTHON_INSTALL_DIR:\w+=(.*)$", cache, re.MULTILINE).group(1)
    package = prefix / python_dir / "prestage"
    daemon = prefix / "bin" / "prestaged"
    assert daemon.is_file() and os.access(daemon, os.X_OK)
    assert run([daemon, "--version"]).stdout.startswith("prestaged ")
    assert (package / "__init__.py").is_file() and (package / "native" / "prestage_pybind11.cpp").is_file()
    assert (prefix / "bin" / "prestage").is_file()
    assert (package / "bin" / "prestaged").resolve() == daemon.resolve(), "the package's daemon link is wrong"
    found = run([PYTHON, "-c", FIND_SERVER], cwd=tmp_path, env=clean_env(PYTHONPATH=str(package.parent))).stdout.strip()
    assert pathlib.Path(found).resolve() == daemon.resolve()
    vsix = build / "vscode-ext" / "prestage-vscode.vsix"
    assert (prefix / "share" / "prestage" / vsix.name).is_file() == vsix.is_file()
