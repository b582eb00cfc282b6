"""Build progress during a real cmake build: build/progress fractions, project/list's `progress`
and the progress in spec/resolve's timeout (docs/protocol.md, "Build progress")."""
import time

from conftest import CODES, PYTHON
from pipeline_helpers import BUILD_GUARD_S, Events, finished, project_entry
from schema_check import validate


def test_a_cmake_build_reports_monotone_fractions_everywhere_a_client_looks(daemon, cmake_pkg):
    events = Events(daemon)
    project = daemon.rpc("project/open", {"root": str(cmake_pkg), "python": PYTHON})["id"]
    listed, timeouts = [], []
    deadline = time.monotonic() + BUILD_GUARD_S
    while not any(finished(project)(m) for m in events.seen):
        assert time.monotonic() < deadline, "the build did not finish"
        events.quiet_for(0.1)
        entry = project_entry(daemon, project)
        validate([entry], "methods/project.list.result.schema.json")
        if "progress" in entry:
            assert entry["state"] == "building"
            listed.append(entry["progress"])
        reply = daemon.call("spec/resolve", {"name": "cmake_pkg", "python": PYTHON, "wait": 0.2})
        if "error" in reply:
            validate(reply, "jsonrpc.schema.json")
            assert reply["error"]["code"] in (CODES.build_timeout, CODES.not_built)  # not_built: before the round
            if reply["error"]["code"] == CODES.build_timeout and "progress" in reply["error"]["data"]:
                assert reply["error"]["data"]["project"] == project
                timeouts.append(reply["error"]["data"]["progress"])
    assert finished(project, ok=True)(next(m for m in events.seen if finished(project)(m)))

    notified = [m["params"] for m in events.seen if m["method"] == "build/progress" and m["params"]["project"] == project]
    fractions = [(p["done"], p["total"]) for p in notified if "done" in p]
    assert len(set(fractions)) >= 2, notified  # ninja's [n/total] of 2 compiles and 2 links
    for (done, total), (next_done, next_total) in zip(fractions, fractions[1:]):
        assert next_done >= done and next_done * total >= done * next_total, fractions
    assert all(done <= total for done, total in fractions)
    assert fractions[-1][0] == fractions[-1][1]
    assert any(p["message"].startswith("Configuring") and "done" not in p for p in notified)  # no made-up fraction
    assert listed and timeouts, "a waiting client sees the progress without the WebSocket"
    assert "progress" not in project_entry(daemon, project)  # only while building
    events.close()
