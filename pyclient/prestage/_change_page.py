"""Telling "nothing changed since my last answer" without asking the daemon (docs/reloading.md, "A
reload that asks nothing"; the page's layout is in docs/protocol.md, "Change page").

Over its handoff socket the daemon hands out two fds: its change page (shared memory where it bumps
a project's epoch on every change it sees) and its inotify instance. An answer is kept with the
project's epoch read *before* it was asked for. Later it is still the daemon's answer when:
no drain is in progress (the drain counter is even and the same before and after), the inotify
queue is empty (FIONREAD: every save completed so far has been read), and the project's epoch is
unchanged and says inotify sees all its changes. A save queues its inotify event inside the
writer's own syscall, so a save completed before the check is either still queued (the check
fails) or already read, and then the epoch moved. Only on x86-64, whose stores are seen in order."""
import fcntl
import json
import mmap
import os
import platform
import socket
import struct
import termios

_MAGIC = b"PSTGCHG1"
_LINE = 64
_DRAINS, _GLOBAL, _SLOT_COUNT = 8, 16, 24
_EPOCH, _FLAGS, _ID_LENGTH, _ID = 0, 8, 9, 16
_SEES_ALL = 1
_QUAD = struct.Struct("<Q")
_HANDOFF_TIMEOUT_S = 2.0
SUPPORTED = platform.machine() in ("x86_64", "AMD64")


class ChangePage:
    """The daemon's change page and inotify fd, mapped read-only; closed when the last reference goes."""

    def __init__(self, page_fd, inotify_fd):
        try:
            self._page = mmap.mmap(page_fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(page_fd)
        self._inotify = inotify_fd
        if self._page[:8] != _MAGIC:
            self._page.close()
            os.close(inotify_fd)
            raise ValueError("not a prestage change page")
        self._slots = min(struct.unpack_from("<I", self._page, _SLOT_COUNT)[0], len(self._page) // _LINE - 1)
        self._slot_of = {}  # project id -> line index

    def __del__(self):
        inotify, self._inotify = getattr(self, "_inotify", -1), -1
        if inotify >= 0:
            os.close(inotify)

    @classmethod
    def fetch(cls, state_dir, token):
        """Asks the daemon's handoff socket; None when it has no page to give (polling, an old daemon)."""
        if not SUPPORTED:
            return None
        path = os.path.join(str(state_dir), "handoff.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(_HANDOFF_TIMEOUT_S)
            try:
                sock.connect(path)
                sock.sendall(token.encode() + b"\n")
                data, fds, _flags, _address = socket.recv_fds(sock, 512, 4, socket.MSG_CMSG_CLOEXEC)
            except OSError:
                return None
        try:
            names = json.loads(data.decode()).get("fds") or []
        except (ValueError, AttributeError):
            names = []
        if names[:2] != ["change_page", "inotify"] or len(fds) < 2:
            for fd in fds:
                os.close(fd)
            return None
        for fd in fds[2:]:
            os.close(fd)
        try:
            return cls(fds[0], fds[1])
        except (OSError, ValueError):
            return None

    def mark(self, project_id):
        """What to keep with an answer asked for now: (line, epoch, global), or None when the project has no line."""
        slot = self._slot_of.get(project_id)
        if slot is None or not self._holds(slot, project_id):
            slot = self._find(project_id)
            if slot is None:
                return None
            self._slot_of[project_id] = slot
        offset = _LINE * (slot + 1)
        return slot, _QUAD.unpack_from(self._page, offset + _EPOCH)[0], _QUAD.unpack_from(self._page, _GLOBAL)[0]

    def unchanged(self, mark):
        """True when nothing the daemon's answer depends on changed since `mark` was taken."""
        page = self._page
        drains = _QUAD.unpack_from(page, _DRAINS)[0]
        if drains & 1:
            return False  # events are between the queue and the projects
        if int.from_bytes(fcntl.ioctl(self._inotify, termios.FIONREAD, b"\0\0\0\0"), "little"):
            return False  # a save not read yet
        slot, epoch, global_epoch = mark
        offset = _LINE * (slot + 1)
        return (
            _QUAD.unpack_from(page, offset + _EPOCH)[0] == epoch
            and page[offset + _FLAGS] == _SEES_ALL
            and _QUAD.unpack_from(page, _GLOBAL)[0] == global_epoch
            and _QUAD.unpack_from(page, _DRAINS)[0] == drains
        )

    def _holds(self, slot, project_id):
        offset = _LINE * (slot + 1)
        length = self._page[offset + _ID_LENGTH]
        return length == len(project_id) and self._page[offset + _ID:offset + _ID + length] == project_id.encode()

    def _find(self, project_id):
        """The line holding `project_id`: searched in C (mmap.find), since a project without a line
        (a full page) is looked for again before every ask."""
        wanted = project_id.encode()
        if not wanted:
            return None
        position = self._page.find(wanted, _LINE)
        while position >= 0:
            slot, column = divmod(position, _LINE)
            if column == _ID and slot <= self._slots and self._holds(slot - 1, project_id):
                return slot - 1
            position = self._page.find(wanted, position + 1)
        return None
