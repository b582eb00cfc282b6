"""spec/resolve answers from ready-made results and cached interpreter facts (docs/architecture.md,
"Answering spec/resolve"). Each test fails if that caching misses an invalidation: a publish, a failed
build, garbage collection, or an interpreter replaced on disk."""
import http.client
import json
import os
import pathlib
import threading
import time

from conftest import CODES, PYTHON, RpcError, check_reply
from fault_helpers import check_resolved_spec
from pipeline_helpers import BUILD_GUARD_S, Events, finished, open_and_build, resolve, save, value_of, wait_idle

KEEP_GENERATIONS = 5  # the daemon's default (PipelineEnv::keep_generations)


def python_key(spec):
    """The interpreter key directory of a resolved spec: STATE/projects/<id>/<python-key>/gen-N."""
    return pathlib.Path(spec["path_entry"]).parent.name


def spec_now(daemon, name="single_cpp", python=PYTHON):
    """spec/resolve without waiting: what the daemon answers at this moment."""
    return daemon.rpc("spec/resolve", {"name": name, "python": python})


def call_on_fresh_connection(daemon, method, params, timeout):
    """One JSON-RPC call on its own connection; `timeout` is a failure guard only."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=timeout)
    try:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        conn.request("POST", "/rpc", body=body, headers=daemon.auth_headers())
        response = conn.getresponse()
        assert response.status == 200, response.status
        return check_reply(json.loads(response.read()), method)
    finally:
        conn.close()


def write_wrapper(path, body=""):
    """An interpreter that is a shell script running the system Python: same facts, its own real path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}exec {PYTHON} \"$@\"\n")
    path.chmod(0o755)
    return path


def wait_after(events, action, predicate):
    """Runs `action`, then waits for a notification matching `predicate` that arrived after it."""
    before = len(events.seen)
    action()
    return events.wait_for(predicate, after=before)


def point_link(link, target):
    tmp = link.with_name(link.name + ".new")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)  # atomic switch


def test_the_next_resolve_after_each_save_or_failure_names_what_was_just_published(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    template = single_cpp.read_text()
    answered = [spec_now(daemon)]
    for _ in range(3):  # warm the ready-made answers, including one for a submodule the project lacks
        assert spec_now(daemon)["generation"] == answered[0]["generation"]
        assert spec_now(daemon, "single_cpp.missing") is None

    value = 10
    for round_number in range(KEEP_GENERATIONS + 2):  # enough publishes for gc to collect the first ones
        value += 1
        previous = answered[-1]["generation"]
        save(single_cpp, template.replace("return 10;", f"return {value};"))
        done = events.wait_for(lambda m: finished(project, ok=True)(m) and m["params"]["generation"] > previous)
        spec = spec_now(daemon)  # the very next request after build/finished
        assert spec["generation"] == done["params"]["generation"], f"round {round_number}: stale answer {spec}"
        check_resolved_spec(spec)
        assert value_of(spec["origin"], "single_cpp") == value
        answered.append(spec)

        if round_number == 1:  # a failed build replaces the ready answer with the failure, and a fix replaces that
            failed = wait_after(events, lambda: save(single_cpp, template.replace("return 10;", "return oops;")),
                                finished(project, ok=False))
            try:
                spec_now(daemon)
                raise AssertionError("spec/resolve answered a spec right after a failed build")
            except RpcError as e:
                assert e.code == CODES.build_failed and e.data["generation"] == failed["params"]["generation"] == spec["generation"]
            value += 1
            fixed = wait_after(events, lambda: save(single_cpp, template.replace("return 10;", f"return {value};")),
                               finished(project, ok=True))
            spec = spec_now(daemon)
            assert spec["generation"] == fixed["params"]["generation"] > answered[-1]["generation"]
            assert value_of(spec["origin"], "single_cpp") == value
            answered.append(spec)

    wait_idle(daemon, project)
    listed = {g["generation"] for g in daemon.rpc("generation/list", {"id": project})}
    collected = {s["generation"] for s in answered} - listed
    assert collected, f"gc collected nothing: {listed}"
    for _ in range(20):
        spec = spec_now(daemon)
        assert spec["generation"] == max(listed) and spec["generation"] not in collected
    check_resolved_spec(spec)
    events.close()


def test_resolves_during_saves_and_gc_only_name_published_generations(daemon, single_cpp):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    template = single_cpp.read_text()
    stop = threading.Event()
    problems, seen = [], []

    def hammer():
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "spec/resolve", "params": {"name": "single_cpp", "python": PYTHON}})
        last = 0
        try:
            while not stop.is_set():
                conn.request("POST", "/rpc", body=body, headers=daemon.auth_headers())
                spec = json.loads(conn.getresponse().read())["result"]
                assert os.path.isdir(spec["path_entry"]), f"answered generation {spec['generation']} is gone"
                if spec["generation"] != last:  # a generation is checked the first time it is named
                    check_resolved_spec(spec)
                    assert spec["generation"] > last, f"went back from {last} to {spec['generation']}"
                    last = spec["generation"]
                    seen.append(last)
        except Exception as e:  # noqa: BLE001 - reported by the test
            problems.append(repr(e))
        finally:
            conn.close()

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        generation = resolve(daemon, "single_cpp")["generation"]
        for value in range(11, 11 + KEEP_GENERATIONS + 2):
            save(single_cpp, template.replace("return 10;", f"return {value};"))
            generation = events.wait_for(
                lambda m: finished(project, ok=True)(m) and m["params"]["generation"] > generation)["params"]["generation"]
    finally:
        stop.set()
        thread.join()
    assert not problems, problems
    listed = {g["generation"] for g in daemon.rpc("generation/list", {"id": project})}
    assert min(seen) not in listed, "gc collected nothing during the run"
    assert spec_now(daemon)["generation"] == generation == max(seen)
    events.close()


def test_an_interpreter_symlink_switched_to_another_interpreter_is_noticed(daemon, single_cpp, tmp_path):
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir(parents=True)
    first_target = write_wrapper(tmp_path / "first" / "python3")
    second_target = write_wrapper(tmp_path / "second" / "python3")
    point_link(python, first_target)
    events = Events(daemon)
    project = daemon.rpc("project/open", {"root": str(single_cpp), "python": str(python)})["id"]
    events.wait_for(finished(project, ok=True))
    before = resolve_with(daemon, python)
    check_resolved_spec(before)
    for _ in range(5):
        assert python_key(spec_now(daemon, python=str(python))) == python_key(before)

    point_link(python, second_target)
    deadline = time.monotonic() + BUILD_GUARD_S  # failure guard: the daemon must notice the switch and build for it
    while True:
        after = resolve_with(daemon, python)
        if python_key(after) != python_key(before):
            break
        assert time.monotonic() < deadline, "the switched interpreter was never noticed"
        time.sleep(0.2)
    check_resolved_spec(after)
    assert value_of(after["origin"], "single_cpp") == 10
    facts = json.loads((daemon.state_dir / "interpreters.json").read_text())["interpreters"][str(python)]
    assert facts["interpreter"]["key"] == python_key(after)
    assert str(second_target) in facts["stamp"]
    events.close()


def resolve_with(daemon, python):
    deadline = time.monotonic() + BUILD_GUARD_S
    while True:
        try:
            return daemon.rpc("spec/resolve", {"name": "single_cpp", "python": str(python), "wait": 10})
        except RpcError as e:
            if e.code != CODES.build_timeout or time.monotonic() > deadline:
                raise


def test_a_new_interpreter_is_asked_off_the_io_thread(daemon, single_cpp, tmp_path):
    events = Events(daemon)
    project = open_and_build(daemon, events, single_cpp)
    system = spec_now(daemon)
    started, release = tmp_path / "query-started", tmp_path / "query-release"
    slow = write_wrapper(tmp_path / "slow" / "python3",
                         f"touch {started}\nwhile [ ! -e {release} ]; do sleep 0.05; done\n")
    outcome = {}

    def resolve_with_the_slow_interpreter():
        try:
            outcome["reply"] = call_on_fresh_connection(
                daemon, "spec/resolve", {"name": "single_cpp", "python": str(slow), "wait": True}, timeout=BUILD_GUARD_S)
        except Exception as e:  # noqa: BLE001 - reported by the test
            outcome["error"] = repr(e)

    thread = threading.Thread(target=resolve_with_the_slow_interpreter)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline and thread.is_alive(), f"the interpreter was never asked: {outcome}"
            time.sleep(0.05)
        # The query is now blocked until `release` exists; the daemon must keep serving meanwhile.
        assert daemon.health().status == 200
        other = call_on_fresh_connection(daemon, "spec/resolve", {"name": "single_cpp", "python": PYTHON}, timeout=10)
        assert other["result"]["generation"] == system["generation"]
        assert daemon.rpc("project/list")[0]["id"] == project
        assert not release.exists() and thread.is_alive()
    finally:
        release.touch()
        thread.join()
    assert "error" not in outcome, outcome
    spec = outcome["reply"]["result"]
    assert python_key(spec) != python_key(system), "the new interpreter got its own build"
    check_resolved_spec(spec)
    events.close()


def test_opening_a_project_asks_its_interpreter_off_the_io_thread(daemon, single_cpp, tmp_path):
    started, release = tmp_path / "query-started", tmp_path / "query-release"
    slow = write_wrapper(tmp_path / "slow" / "python3",
                         f"touch {started}\nwhile [ ! -e {release} ]; do sleep 0.05; done\n")
    events = Events(daemon)
    project = daemon.rpc("project/open", {"root": str(single_cpp), "python": str(slow)})["id"]
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the interpreter was never asked"
            time.sleep(0.05)
        # The first round's query (during its scan, before any build) is blocked until `release`
        # exists; the daemon keeps serving.
        listed = call_on_fresh_connection(daemon, "project/list", {}, timeout=10)["result"]
        assert [p["state"] for p in listed if p["id"] == project] == ["queued"]
        assert not release.exists()
    finally:
        release.touch()
    events.wait_for(finished(project, ok=True))
    spec = resolve_with(daemon, slow)
    check_resolved_spec(spec)
    assert value_of(spec["origin"], "single_cpp") == 10
    events.close()
