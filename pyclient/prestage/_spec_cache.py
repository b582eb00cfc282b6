"""Resolved specs kept between reloads, so that a reload after a save needs no round trip.

The push thread fills the cache when a build finishes (prefetch); the finder stores every answer
it gets. An entry is used only while nothing says it may be stale:
- the push channel has stayed connected since before the entry's spec/resolve was sent;
- no build/started, build/finished, projects/changed or project/state "queued"/"building" for its
  project arrived since then;
- its project is not queued or building (project/state, build/started) and no build is running;
- no gen-<N> newer than the entry's generation sits next to it on disk. The daemon renames a
  generation into place before it pushes build/finished, so this covers the push's latency. The
  push thread lists the directory once after the prefetch and keeps its stat (inode, link count,
  mtime, ctime); a reload only stats it, and lists it again when anything changed.
Otherwise the finder asks the daemon (spec/resolve, waiting for a running build).
"""
import os
import threading

_GENERATION_PREFIX = "gen-"
_IN_FLIGHT_PREFIX = ".gen.tmp"  # the daemon stages a generation there, then renames it to gen-<N>


def generations_dir(resolved):
    """The directory holding the resolved generation's gen-<N> siblings, or None for another layout."""
    entry = resolved.get("path_entry")
    generation = resolved.get("generation")
    if not isinstance(entry, str) or not isinstance(generation, int):
        return None
    parent, base = os.path.split(entry)
    return parent if base == f"{_GENERATION_PREFIX}{generation}" else None


def dir_stamp(path_or_fd):
    status = os.stat(path_or_fd)
    return (status.st_ino, status.st_nlink, status.st_mtime_ns, status.st_ctime_ns)


def newer_generation_listed(names, generation):
    for name in names:
        if name.startswith(_GENERATION_PREFIX):
            number = name[len(_GENERATION_PREFIX):]
            if number.isdigit() and int(number) > generation:
                return True
    return False


def newer_generation_on_disk(resolved):
    """True when the generation's directory holds a newer gen-<N> (or cannot be read)."""
    parent = generations_dir(resolved)
    if parent is None:
        return True
    try:
        return newer_generation_listed(os.listdir(parent), resolved["generation"])
    except OSError:
        return True


def quiet_stamp(fd, generation):
    """The stamp of the directory open as `fd` when a listing shows no newer generation and no
    publish in flight (a .gen.tmp directory) and it did not change while listed; else None."""
    try:
        before = dir_stamp(fd)
        names = os.listdir(fd)
        after = dir_stamp(fd)
    except OSError:
        return None
    if before != after or newer_generation_listed(names, generation):
        return None
    if any(name.startswith(_IN_FLIGHT_PREFIX) for name in names):
        return None
    return after


def _unchanged_since_listed(entry):
    """True when the push thread found no newer generation and the directory has not changed since."""
    if entry.stamp is None:
        return False
    try:
        return dir_stamp(entry.fd) == entry.stamp
    except OSError:
        return False


class _Entry:
    __slots__ = ("resolved", "session", "clock", "parent", "fd", "stamp")

    def __init__(self, resolved, session, clock):
        self.resolved = resolved
        self.session = session
        self.clock = clock
        self.parent = generations_dir(resolved)
        self.fd = None  # an open descriptor of `parent` (fstat needs no path walk)
        self.stamp = None  # dir_stamp(fd) when the push thread found nothing newer


class Ticket:
    """Taken before a spec/resolve is sent: which push session and event count it was sent under."""

    __slots__ = ("session", "clock")

    def __init__(self, session, clock):
        self.session = session
        self.clock = clock


class SpecCache:
    """resolve name -> resolved spec, trusted only under the rules in the module docstring. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._session = None  # number of the connected push session; None while disconnected
        self._sessions = 0
        self._clock = 0  # counts the push events that can make an entry stale
        self._changed_at = {}  # project id -> clock of its last build event
        self._reset_at = 0  # clock of the last event that affects every project
        self._building = set()
        self._entries = {}  # resolve name -> _Entry
        self._dir_fds = {}  # generations directory -> descriptor, kept open for this process
        self.misses = {}  # reason -> count (an RPC was needed); for tests and profiling
        self.hits = 0

    # -- the finder's side (the importing thread) ---------------------------------------------------
    def ticket(self):
        with self._lock:
            return Ticket(self._session, self._clock)

    def lookup(self, name):
        """The cached resolved spec of `name` if it is still the daemon's newest, else None.

        Reads the push thread's state without the lock: each read is atomic, and every event only
        ever makes entries stale, so any interleaving reads as "before" or "after" that event."""
        entry = self._entries.get(name)
        reason = self._stale_reason(entry)
        if reason is None and not _unchanged_since_listed(entry) and newer_generation_on_disk(entry.resolved):
            reason = "newer generation on disk"
        if reason is not None:
            self.misses[reason] = self.misses.get(reason, 0) + 1
            return None
        self.hits += 1
        return entry.resolved

    def _stale_reason(self, entry):
        if entry is None:
            return "not cached"
        if entry.session is None or entry.session != self._session:
            return "push channel not connected"
        project = entry.resolved.get("project")
        if project in self._building:
            return "build running"
        if self._reset_at > entry.clock or self._changed_at.get(project, 0) > entry.clock:
            return "build event since"
        return None

    def _dir_fd(self, parent):
        """An open descriptor of `parent`, reopened when the path now names another directory."""
        fd = self._dir_fds.get(parent)
        try:
            if fd is not None and os.stat(parent).st_ino == os.fstat(fd).st_ino:
                return fd
            new_fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        if fd is not None:
            os.close(fd)
        self._dir_fds[parent] = new_fd
        return new_fd

    def store(self, name, resolved, ticket, *, at_least=None, verify=False):
        """Keeps `resolved` (the answer to a spec/resolve sent under `ticket`) for `name`.

        at_least: a generation the answer must reach to be kept (the one build/finished announced).
        verify: list its generations directory now (push thread), so a reload only needs a stat."""
        if not isinstance(resolved, dict) or not isinstance(resolved.get("generation"), int):
            return
        if at_least is not None and resolved["generation"] < at_least:
            return
        entry = _Entry(resolved, ticket.session, ticket.clock)
        if verify and entry.parent is not None:
            with self._lock:
                entry.fd = self._dir_fd(entry.parent)
            if entry.fd is not None:
                entry.stamp = quiet_stamp(entry.fd, resolved["generation"])
        with self._lock:
            current = self._entries.get(name)
            if current is not None and current.session == ticket.session and current.clock > ticket.clock:
                return  # a later answer is already here
            self._entries[name] = entry

    def cached_generation(self, name):
        """The generation a reload of `name` would use without asking the daemon, or None."""
        with self._lock:
            entry = self._entries.get(name)
            if self._stale_reason(entry) is not None:
                return None
            return entry.resolved["generation"]

    # -- the push thread's side ---------------------------------------------------------------------
    def connected(self):
        """A new push session: entries from earlier ones are stale. Returns the names to prefetch."""
        with self._lock:
            self._sessions += 1
            self._session = self._sessions
            self._clock += 1
            self._reset_at = self._clock
            self._building.clear()
            return list(self._entries)

    def disconnected(self):
        with self._lock:
            self._session = None

    def projects_changed(self):
        with self._lock:
            self._clock += 1
            self._reset_at = self._clock

    def build_started(self, project):
        with self._lock:
            self._clock += 1
            self._changed_at[project] = self._clock
            self._building.add(project)

    def build_finished(self, project):
        """Returns the cached names of `project`, to prefetch."""
        with self._lock:
            self._clock += 1
            self._changed_at[project] = self._clock
            self._building.discard(project)
            return [name for name, entry in self._entries.items() if entry.resolved.get("project") == project]

    def project_state(self, project, state):
        """project/state: "queued" (the daemon saw a change and will build) and "building" make the
        project's entries stale until it is idle again; "idle" alone changes no entry."""
        with self._lock:
            if state == "idle":
                self._building.discard(project)
                return
            self._clock += 1
            self._changed_at[project] = self._clock
            self._building.add(project)

    def mark_building(self, project):
        """A project found busy (project/list) after a reconnect."""
        with self._lock:
            self._building.add(project)
