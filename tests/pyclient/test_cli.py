"""The `prestage` command (docs/cli.md), run as `python -m prestage` subprocesses on a private state dir.

The module's daemon is started by the command itself (`prestage build PATH`), as a user's would be,
and stopped by the last test; every subprocess has a timeout."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import server_binary
from helpers import FIXTURES, PYCLIENT

COMMANDS = ["status", "open", "close", "build", "log", "generations", "stop", "doctor"]
SOURCE = FIXTURES / "single" / "rw_single.cpp"  # the plain C API: compiles in a fraction of a second


def run_cli(state_dir, *arguments, python=sys.executable, env=None, timeout=120):
    full_env = {**os.environ, "PYTHONPATH": str(PYCLIENT), "PRESTAGE_STATE_DIR": str(state_dir), **(env or {})}
    return subprocess.run([python, "-m", "prestage", *map(str, arguments)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line_error(result, code, text):
    """A failed command: its exit code, and one line on stderr holding `text`, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def binary():
    found = server_binary()
    if found is None:
        pytest.skip("prestaged is not built and PRESTAGE_SERVER is unset")
    return found


@pytest.fixture(scope="module")
def cli(binary, tmp_path_factory):
    """Runs the command against this module's state dir (its daemon is started by the first build)."""
    state_dir = tmp_path_factory.mktemp("cli") / "state"

    def call(*arguments, **options):
        return run_cli(state_dir, *arguments, env={"PRESTAGE_SERVER": binary, **options.pop("env", {})}, **options)

    call.state_dir = state_dir
    yield call
    server = state_dir / "server.json"
    if server.exists():  # a test failed before test_stop: stop the daemon this module started
        run_cli(state_dir, "stop", timeout=60)


@pytest.fixture(scope="module")
def built(cli, tmp_path_factory):
    """A single .cpp project, opened and built by `prestage build PATH` (which starts the daemon)."""
    source = tmp_path_factory.mktemp("ws") / "cli_single.cpp"
    source.write_text(SOURCE.read_text().replace('"rw_single"', '"cli_single"').replace("PyInit_rw_single", "PyInit_cli_single"))
    result = cli("build", source, timeout=300)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.startswith("ok: cli_single-") and "generation 1" in result.stdout
    status = json.loads(cli("status", "--json").stdout)
    project = next(p for p in status if p["root"] == str(source))
    return source, project["id"]


def test_help_of_every_command(tmp_path):
    top = run_cli(tmp_path, "--help")
    assert top.returncode == 0 and all(command in top.stdout for command in COMMANDS) and "exit codes" in top.stdout
    for command in COMMANDS:
        result = run_cli(tmp_path, command, "--help")
        assert result.returncode == 0 and result.stdout.startswith(f"usage: prestage {command}"), (command, result)
    assert run_cli(tmp_path, "--version").stdout.startswith("prestage ")


def test_usage_errors_exit_2(tmp_path):
    one_line_error(run_cli(tmp_path), 2, "missing COMMAND")
    one_line_error(run_cli(tmp_path, "frobnicate"), 2, "invalid choice: 'frobnicate'")
    one_line_error(run_cli(tmp_path, "open"), 2, "PATH")
    one_line_error(run_cli(tmp_path, "build", "x", "--timeout", "soon"), 2, "--timeout")


def test_commands_that_need_a_daemon_exit_3_without_one(tmp_path, binary):
    state_dir = tmp_path / "state"
    for arguments in (["status"], ["status", "--json"], ["log", "some-id"], ["generations", "some-id"],
                      ["close", "some-id"], ["stop"], ["build", "some-id"]):
        result = run_cli(state_dir, *arguments, env={"PRESTAGE_SERVER": binary})
        one_line_error(result, 3, f"no daemon running for state dir {state_dir}")
    assert not (state_dir / "server.json").exists()  # none of them started one


def test_missing_paths_exit_1(tmp_path, binary):
    missing = tmp_path / "missing.cpp"
    for command in ("open", "build", "close", "log", "generations"):
        one_line_error(run_cli(tmp_path / "state", command, missing, env={"PRESTAGE_SERVER": binary}), 1,
                       f"{missing} does not exist")


def test_doctor_without_daemon(tmp_path, binary):
    state_dir = tmp_path / "state"
    pyenv_python = shutil.which("python3") or sys.executable  # the pyenv one comes first on PATH here
    for python in {sys.executable, pyenv_python}:
        result = run_cli(state_dir, "doctor", python=python, env={"PRESTAGE_SERVER": binary})
        assert result.returncode == 0, (python, result.stdout, result.stderr)
        for name in ("g++", "clang++", "cargo", "rustc", "cmake", "ninja", "pybind11 headers", "pybind11 CMake",
                     "max_user_watches", "max_user_instances", "$CXX"):
            assert name in result.stdout, (name, result.stdout)
        assert f"{binary} (from PRESTAGE_SERVER): prestaged " in result.stdout
        assert f"{state_dir}: absent" in result.stdout and "not running" in result.stdout


def test_doctor_names_a_missing_daemon_binary(tmp_path):
    result = run_cli(tmp_path, "doctor", env={"PRESTAGE_SERVER": str(tmp_path / "no-prestaged")})
    one_line_error(result, 1, "essential missing: prestaged")
    assert "MISSING" in result.stdout


def test_status_table_and_json(cli, built):
    source, project_id = built
    table = cli("status")
    assert table.returncode == 0 and "prestaged " in table.stdout
    row = next(line for line in table.stdout.splitlines() if line.startswith(project_id))
    assert "cpp-file" in row and "ok " in row and str(source) in row
    pyenv_python = shutil.which("python3") or sys.executable
    for python in {sys.executable, pyenv_python}:
        listed = json.loads(cli("status", "--json", python=python).stdout)
        entry = next(p for p in listed if p["id"] == project_id)
        assert entry["kind"] == "cpp-file" and entry["last_build"]["ok"] is True


def test_open(cli, built, tmp_path):
    source, project_id = built
    opened = cli("open", source)
    assert opened.returncode == 0 and opened.stdout.startswith(f"opened {project_id}: cpp-file at {source}")
    (tmp_path / "notes.txt").write_text("not a project")
    one_line_error(cli("open", tmp_path), 1, f"unsupported project at {tmp_path}")
    one_line_error(cli("open", source, "--python", "no-such-python-3"), 1, "--python no-such-python-3: not found")
    one_line_error(cli("open", source, "--python", tmp_path / "notes.txt"), 1, "notes.txt: not an executable file")


def test_build_by_id_and_failing_build(cli, built):
    source, project_id = built
    again = cli("build", project_id, timeout=300)
    assert again.returncode == 0 and again.stdout.startswith(f"ok: {project_id} generation ")
    broken = source.with_name("cli_broken.cpp")
    broken.write_text(source.read_text().replace("return PyLong_FromLong(0);", "return PyLong_FromLong(0) oops;"))
    failed = cli("build", broken, timeout=300)
    assert f"{broken}:8:" in failed.stdout and ": error: " in failed.stdout, failed.stdout
    one_line_error(failed, 1, "build of cli_broken-")
    assert "nothing is staged yet" in failed.stderr
    one_line_error(cli("build", "no-such-project-id"), 1, "no open project has the id 'no-such-project-id'")


def test_log_and_generations(cli, built):
    source, project_id = built
    for target in (source, project_id):
        log = cli("log", target)
        assert log.returncode == 0 and "g++" in log.stdout and str(source) in log.stdout
    table = cli("generations", source)
    assert table.returncode == 0 and table.stdout.startswith("GEN") and "cli_single" in table.stdout
    generations = json.loads(cli("generations", "--json", project_id).stdout)
    assert generations[-1]["generation"] == 1 and generations[-1]["ok"] is True
    one_line_error(cli("log", "no-such-project-id"), 1, "no open project has the id")
    one_line_error(cli("generations", "no-such-project-id"), 1, "no open project has the id")


def test_close(cli, built, tmp_path):
    source, project_id = built
    closed = cli("close", project_id)
    assert closed.returncode == 0 and closed.stdout.startswith(f"closed {project_id}")
    one_line_error(cli("close", source), 1, "is not open in the daemon")
    one_line_error(cli("log", source), 1, "is not open in the daemon")
    assert cli("open", source).returncode == 0  # by path again, for the tests after this one


def test_doctor_sees_the_running_daemon(cli, built):
    result = cli("doctor")
    assert result.returncode == 0 and "running: pid " in result.stdout


def test_stop(cli, built):
    stopped = cli("stop", timeout=60)
    assert stopped.returncode == 0 and stopped.stdout.startswith("stopped the daemon (pid ")
    assert not (cli.state_dir / "server.json").exists()
    one_line_error(cli("status"), 3, "no daemon running")
