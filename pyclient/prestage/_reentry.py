"""Keeps prestage's own imports away from its finder.

The client imports modules while it works (getaddrinfo imports `encodings.idna`, subprocess imports
on first use, ...). If such an import reached PrestageFinder, the finder could issue an RPC from inside
an RPC, or from the push thread, and wait on itself. So every client call and every thread prestage
owns runs inside `GUARD`, and the finder answers "not mine" at once while the current thread is inside
it: by construction, whatever those imports are."""
import threading

_state = threading.local()


def active():
    """True while the current thread runs prestage's own client code."""
    return getattr(_state, "depth", 0) > 0


class _Guard:
    __slots__ = ()

    def __enter__(self):
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, *exc_info):
        _state.depth -= 1


GUARD = _Guard()


def own_thread():
    """Marks the current thread as prestage's for its whole life (the push thread)."""
    _state.depth = getattr(_state, "depth", 0) + 1
