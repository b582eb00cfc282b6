"""The handoff socket and the change page (docs/protocol.md "Change page"): who gets the fds, and
what the page shows about a real project as it is edited, built and closed. Real daemon, g++."""
import fcntl
import json
import mmap
import os
import socket
import stat
import struct
import sys
import termios
import time

import pytest

from conftest import REPO
from pipeline_helpers import Events, finished, open_and_build, save, wait_idle
from schema_check import validate
from test_sync import rw_single  # noqa: F401 - a fixture

sys.path.insert(0, str(REPO / "pyclient"))
from prestage._change_page import ChangePage  # noqa: E402 - the client's own reader, the real one

GUARD_S = 10


def handoff(daemon, line):
    """Sends `line` to the handoff socket; returns (reply dict or None on EOF, fds)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(GUARD_S)
        sock.connect(str(daemon.state_dir / "handoff.sock"))
        sock.sendall(line)
        try:
            data, fds, _flags, _address = socket.recv_fds(sock, 4096, 8)
        except ConnectionResetError:  # closed with our bytes unread
            return None, []
    reply = json.loads(data) if data else None
    if reply is not None:
        validate(reply, "handoff.schema.json")
    return reply, fds


def quad(page, offset):
    return struct.unpack_from("<Q", page, offset)[0]


def queued_bytes(fd):
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")


def line_of(page, project_id):
    for slot in range(struct.unpack_from("<I", page, 24)[0]):
        offset = 64 * (slot + 1)
        if page[offset + 16:offset + 16 + page[offset + 9]] == project_id.encode():
            return offset
    raise AssertionError(f"no line holds {project_id}")


def test_the_handoff_gives_its_fds_only_for_the_token(daemon):
    path = daemon.state_dir / "handoff.sock"
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    reply, fds = handoff(daemon, b"not-the-token\n")
    assert fds == [] and "unauthorized" in reply["error"]
    reply, fds = handoff(daemon, b"x" * 600)  # longer than a token line may be: closed unanswered
    assert reply is None and fds == []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:  # says nothing: closed after 2 s
        silent.settimeout(GUARD_S)
        silent.connect(str(path))
        began = time.monotonic()
        assert silent.recv(16) == b"" and time.monotonic() - began < GUARD_S
    reply, fds = handoff(daemon, daemon.token.encode() + b"\n")
    try:
        assert reply == {"fds": ["change_page", "inotify"]} and len(fds) == 2
        assert os.readlink(f"/proc/self/fd/{fds[1]}") == "anon_inode:inotify"
        page = mmap.mmap(fds[0], 0, mmap.MAP_SHARED, mmap.PROT_READ)
        assert page[:8] == b"PSTGCHG1" and len(page) == 64 * (struct.unpack_from("<I", page, 24)[0] + 1)
        assert quad(page, 8) % 2 == 0, "no drain in progress at rest"
        with pytest.raises(TypeError):
            page[0] = 0  # mapped read-only
        page.close()
        with pytest.raises(PermissionError):  # and the fd allows nothing else
            mmap.mmap(fds[0], 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        for fd in fds:
            os.close(fd)
    assert daemon.rpc("server/info")["pid"] == daemon.pid, "the daemon is unaffected"


def test_a_projects_line_moves_with_every_change_and_rests_when_idle(daemon, rw_single):
    events = Events(daemon)
    project = open_and_build(daemon, events, rw_single)
    wait_idle(daemon, project)
    _reply, fds = handoff(daemon, daemon.token.encode() + b"\n")
    page_fd, inotify_fd = fds
    page = mmap.mmap(page_fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
    offset = line_of(page, project)
    reader = ChangePage(os.dup(page_fd), os.dup(inotify_fd))
    try:
        mark = reader.mark(project)
        assert mark[0] == offset // 64 - 1
        assert reader.mark(project[:-1]) is None and reader.mark(project[1:]) is None, "only a whole id names a line"
        assert page[offset + 8] == 1, "inotify sees every change of an idle single-file project"
        assert queued_bytes(inotify_fd) == 0 and reader.unchanged(mark)
        time.sleep(0.5)
        assert reader.unchanged(mark), "an idle project's line stays put"

        mark_at = len(events.seen)
        save(rw_single, rw_single.read_text().replace("PyLong_FromLong(0)", "PyLong_FromLong(5)"))
        # Right after the write: the event is queued, or the daemon read it and bumped the line.
        assert queued_bytes(inotify_fd) > 0 or quad(page, offset) != mark[1]
        assert not reader.unchanged(mark)
        events.wait_for(finished(project, ok=True), after=mark_at)
        wait_idle(daemon, project)
        assert quad(page, offset) > mark[1] and quad(page, 8) % 2 == 0
        assert not reader.unchanged(mark), "a build happened since"
        after = reader.mark(project)
        assert reader.unchanged(after)

        save(rw_single, rw_single.read_text())  # the same bytes: the line moves, no build follows
        daemon.rpc("sync")
        assert not reader.unchanged(after)

        daemon.rpc("project/close", {"id": project})
        assert page[offset + 9] == 0, "a closed project's line is cleared"
        assert quad(page, offset) > after[1]
        assert reader.mark(project) is None
    finally:
        page.close()
        os.close(page_fd)
        os.close(inotify_fd)
        events.close()


def test_a_polling_daemon_hands_out_nothing_and_removes_its_socket_on_exit(start_daemon, tmp_path):
    polling = start_daemon(state_dir=tmp_path / "polling", args=["--watch", "poll"])
    reply, fds = handoff(polling, polling.token.encode() + b"\n")
    assert reply == {"fds": []} and fds == []
    assert polling.stop() == 0
    assert not (polling.state_dir / "handoff.sock").exists()
