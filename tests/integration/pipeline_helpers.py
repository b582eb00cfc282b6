"""Shared by the pipeline, fault and load suites: waiting on the daemon's notifications and state,
resolving specs, saving sources, and loading staged extensions in a fresh interpreter."""
import os
import pathlib
import subprocess
import time

from conftest import CODES, PYTHON, RpcError
from schema_check import notification_schema, validate

BUILD_GUARD_S = 300


class Events:
    """Collects the daemon's WebSocket notifications, each checked against its schema."""

    def __init__(self, daemon):
        self.ws = daemon.ws()
        self.seen = []

    def _pump(self, timeout):
        try:
            message = self.ws.recv_json(timeout=timeout)
        except (TimeoutError, OSError):
            return False
        if "method" in message and "id" not in message:
            validate(message, notification_schema(message["method"]))
            self.seen.append(message)
        return True

    def wait_for(self, predicate, timeout=BUILD_GUARD_S, after=0):
        """The first notification matching `predicate` among those from index `after` on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.seen[after:]:
                if predicate(m):
                    return m
            self._pump(min(1.0, max(0.05, deadline - time.monotonic())))
        raise AssertionError(f"no matching notification within {timeout} s; saw {[m['method'] for m in self.seen]}")

    def quiet_for(self, seconds):
        """Drains notifications for `seconds`; returns those that arrived."""
        before = len(self.seen)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(max(0.05, deadline - time.monotonic()))
        return self.seen[before:]

    def count(self, method, project):
        return sum(1 for m in self.seen if m["method"] == method and m["params"]["project"] == project)

    def close(self):
        self.ws.close()


def finished(project, ok=None):
    return lambda m: (m["method"] == "build/finished" and m["params"]["project"] == project
                      and (ok is None or m["params"]["ok"] == ok))


def project_entry(daemon, project_id):
    return next(p for p in daemon.rpc("project/list") if p["id"] == project_id)


def wait_idle(daemon, project_id, timeout=BUILD_GUARD_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = project_entry(daemon, project_id)
        if entry["state"] == "idle":
            return entry
        time.sleep(0.1)
    raise AssertionError(f"{project_id} still busy after {timeout} s")


def resolve(daemon, name, guard=BUILD_GUARD_S):
    """spec/resolve, waiting for running builds in slices shorter than the client's socket timeout."""
    deadline = time.monotonic() + guard
    while True:
        try:
            return daemon.rpc("spec/resolve", {"name": name, "python": PYTHON, "wait": 10})
        except RpcError as e:
            if e.code != CODES.build_timeout or time.monotonic() > deadline:
                raise


def value_of(origin, name, attribute="get_num"):
    """Imports a staged extension in a fresh interpreter and calls `attribute`."""
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location({name!r}, {str(origin)!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            f"print(m.{attribute}())\n")
    return int(subprocess.run([PYTHON, "-c", code], check=True, capture_output=True, text=True).stdout)


def save(path, text):
    pathlib.Path(path).write_text(text)


def save_by_rename(path, text):
    tmp = pathlib.Path(str(path) + ".swp~")
    tmp.write_text(text)
    os.replace(tmp, path)


def open_and_build(daemon, events, root):
    opened = daemon.rpc("project/open", {"root": str(root), "python": PYTHON})
    events.wait_for(finished(opened["id"], ok=True))
    return opened["id"]


def wait_all_idle(daemon, timeout=BUILD_GUARD_S):
    """project/list once no project is settling, scanning or building."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = daemon.rpc("project/list")
        if all(p["state"] == "idle" for p in listing):
            return listing
        time.sleep(0.1)
    raise AssertionError(f"projects still busy after {timeout} s: {listing}")


def assert_restart_starts_no_build(start_daemon, state_dir, project, name, generation, quiet_s=1.0):
    """Restarts on `state_dir` with unchanged sources: no build starts and `name` still resolves to `generation`.
    Returns the running daemon."""
    daemon = start_daemon(state_dir=state_dir)
    events = Events(daemon)
    wait_idle(daemon, project)
    events.quiet_for(quiet_s)
    assert events.count("build/started", project) == 0
    assert resolve(daemon, name)["generation"] == generation
    events.close()
    return daemon
