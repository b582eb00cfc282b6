"""Finding the daemon: the state dir, its server.json, the prestaged binary, and starting it.

Starting is serialised across processes by an flock on STATE/autostart.lock: the first client to
find no daemon starts one and waits for its server.json; every other client (another thread's, or
another process's) waits on the lock, then finds that daemon."""
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from ._errors import DaemonUnavailable

_POLL_S = 0.02


def default_state_dir():
    explicit = os.environ.get("PRESTAGE_STATE_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "prestage"
    return Path.home() / ".cache" / "prestage"


def read_server_json(state_dir):
    """The discovery record, or None when absent, unreadable or its process is gone."""
    path = Path(state_dir) / "server.json"
    try:
        info = json.loads(path.read_text())
        pid, port, token = int(info["pid"]), int(info["port"]), str(info["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return {**info, "pid": pid, "port": port, "token": token}


def find_server_executable():
    """The prestaged to start, or None if none exists. In order:
    1. PRESTAGE_SERVER: an explicit choice always wins;
    2. prestage/bin/prestaged beside this package: the daemon a wheel (or `cmake --install`) bundled,
       built from the same sources as this client, so their protocol matches;
    3. the source tree's build/server/app/prestaged: a checkout run with PYTHONPATH=pyclient wants the
       tree's fresh build, not an older install;
    4. prestaged on PATH, last because it may be any version."""
    explicit = os.environ.get("PRESTAGE_SERVER")
    if explicit:
        return explicit
    package = Path(__file__).resolve().parent
    for candidate in (package / "bin" / "prestaged", package.parent.parent / "build" / "server" / "app" / "prestaged"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("prestaged")


def not_running_message(state_dir, detail=""):
    state_dir = Path(state_dir)
    reason = f" ({detail})" if detail else ""
    return (
        f"prestage: no daemon is running for state dir {state_dir}{reason}; start one with "
        f"`prestaged --state-dir {state_dir}`, or call prestage.install(), which starts it"
    )


def start_daemon(state_dir, wait_timeout):
    """The running daemon's discovery record, starting prestaged detached first when none runs."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + wait_timeout
    with open(state_dir / "autostart.lock", "a") as lock:
        while True:  # bounded, so a client that holds the lock forever cannot hang this one
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DaemonUnavailable(
                        f"prestage: another client has been starting the daemon for state dir {state_dir} "
                        f"for {wait_timeout:g} s; see {state_dir / 'prestaged.log'}"
                    ) from None
                time.sleep(_POLL_S)
        info = read_server_json(state_dir)  # started by whoever held the lock before
        if info is not None:
            return info
        return _spawn_and_wait(state_dir, deadline, wait_timeout)


def _spawn_and_wait(state_dir, deadline, wait_timeout):
    executable = find_server_executable()
    if executable is None:
        raise DaemonUnavailable(
            "prestage: no daemon is running and prestaged was not found. Build it "
            "(cmake -S . -B build -G Ninja && cmake --build build), put it on PATH, "
            "or set PRESTAGE_SERVER to its path."
        )
    log_path = state_dir / "prestaged.log"
    env = {**os.environ, "PRESTAGE_STATE_DIR": str(state_dir)}
    with open(log_path, "ab") as log:
        try:
            process = subprocess.Popen(
                [executable], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, close_fds=True, env=env,
            )
        except OSError as error:
            raise DaemonUnavailable(
                f"prestage: could not start {executable}: {error}. Set PRESTAGE_SERVER to a working prestaged."
            ) from error
    while time.monotonic() < deadline:
        info = read_server_json(state_dir)
        if info is not None:
            return info
        if process.poll() is not None:
            # A daemon started by hand (not through this lock) may hold the state dir: it is coming up.
            info = _wait_for_server_json(state_dir, min(2.0, deadline - time.monotonic()))
            if info is not None:
                return info
            raise DaemonUnavailable(
                f"prestage: {executable} exited with status {process.returncode} before it was ready; "
                f"see {log_path}"
            )
        time.sleep(_POLL_S)
    raise DaemonUnavailable(
        f"prestage: {executable} did not write {state_dir / 'server.json'} within {wait_timeout:g} s; "
        f"see {log_path}, or start prestaged yourself"
    )


def _wait_for_server_json(state_dir, timeout):
    deadline = time.monotonic() + max(timeout, 0)
    while time.monotonic() < deadline:
        info = read_server_json(state_dir)
        if info is not None:
            return info
        time.sleep(0.05)
    return None
