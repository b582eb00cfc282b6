"""prestage: import native extensions staged by prestaged, and reload them in place.

    import prestage
    prestage.install()          # finder at sys.meta_path[0]; starts prestaged if needed
    import my_pkg               # served from the newest staged generation
    importlib.reload(my_pkg)    # returns at once with the new native code
"""
import os
import sys
import threading

from ._client import Client
from ._discovery import default_state_dir
from ._errors import BuildError, BuildTimeout, DaemonUnavailable, PrestageError, RpcError
from ._finder import FirstBuildFinder, PrestageFinder, sync_until_idle
from ._push import PushChannel
from . import _pybind11

__all__ = [
    "BuildError", "BuildTimeout", "DaemonUnavailable", "PrestageError", "RpcError", "PrestageFinder",
    "install", "uninstall", "open", "status", "sync", "wait_idle", "connect", "finder",
    "load_ipython_extension", "unload_ipython_extension",
]
__version__ = "0.1.0"

_lock = threading.Lock()
_finder = None
_last_finder = None  # FirstBuildFinder, at the end of sys.meta_path
_push = None
_shared_client = None


def connect(*, autostart=True, wait_timeout=30.0):
    """The shared daemon client (starting prestaged if allowed and needed)."""
    global _shared_client
    with _lock:
        if _shared_client is None:
            _shared_client = Client.connect(default_state_dir(), autostart=autostart, wait_timeout=wait_timeout)
        return _shared_client


def _running_client(wait_timeout):
    """The shared client, with a daemon behind it: a daemon that went away is started again."""
    client = connect(wait_timeout=wait_timeout)
    client.ensure_running(wait_timeout=wait_timeout)
    return client


def finder():
    """The installed PrestageFinder, or None."""
    return _finder


def install(*, enable_reloading=True, wait_timeout=300.0, start_timeout=30.0):
    """Puts a PrestageFinder at sys.meta_path[0] and returns it.

    wait_timeout bounds how long an import waits for a running build; start_timeout bounds
    how long to wait for an auto-started daemon's server.json."""
    global _finder, _last_finder, _push
    client = _running_client(start_timeout)
    state_dir = client.state_dir
    with _lock:
        if _finder is not None:
            _remove_from_meta_path(_finder)
            _finder.enable_reloading = enable_reloading
            _finder.wait_timeout = wait_timeout
            new_finder = _finder
        else:
            new_finder = PrestageFinder(
                client, enable_reloading=enable_reloading, wait_timeout=wait_timeout,
                helper_finder=lambda resolved: _pybind11.build_default_helper_blocking(str(state_dir)),
            )
        sys.meta_path.insert(0, new_finder)
        _finder = new_finder
        if _last_finder is not None:
            _remove_from_meta_path(_last_finder)
        _last_finder = FirstBuildFinder(new_finder)
        sys.meta_path.append(_last_finder)
        if _push is None:
            _push = PushChannel(client, new_finder.on_event)
    return new_finder


def uninstall():
    """Removes the finder from sys.meta_path and closes the push channel."""
    global _finder, _last_finder, _push
    with _lock:
        if _finder is not None:
            _remove_from_meta_path(_finder)
        _finder = None
        if _last_finder is not None:
            _remove_from_meta_path(_last_finder)
        _last_finder = None
        if _push is not None:
            _push.close()
            _push = None


def _remove_from_meta_path(target):
    sys.meta_path[:] = [entry for entry in sys.meta_path if entry is not target]


def open(path, python=None):  # noqa: A001 - the public name the API specifies
    """Opens a project (a directory or a single name.rs / name.cpp) in the daemon."""
    absolute = os.path.abspath(os.fspath(path))
    if not os.path.exists(absolute):
        raise FileNotFoundError(f"prestage.open: {absolute} does not exist")
    result = connect().call("project/open", {"root": absolute, "python": python or sys.executable})
    if _finder is not None:
        _finder.mark_stale()
    return result


def status():
    """The daemon's project/list: one dict per open project."""
    return list(connect().call("project/list") or [])


def sync(projects=None, timeout=60.0):
    """Makes the daemon take in every save completed before the call, then waits until the given
    projects (ids; every open one by default) are idle: their builds are over. Returns their
    project/list entries; raises TimeoutError after `timeout` s."""
    return _sync(projects, timeout, "prestage.sync")


def wait_idle(timeout=60.0):
    """Returns project/list once every save completed before the call has been built (or found
    unchanged) and no build is queued or running; raises TimeoutError after `timeout` s."""
    return _sync(None, timeout, "prestage.wait_idle")


def _sync(projects, timeout, caller):
    return sync_until_idle(connect(), projects, timeout, caller)


def load_ipython_extension(ipython):
    from . import ipython as _ipython

    _ipython.load(ipython)


def unload_ipython_extension(ipython):
    from . import ipython as _ipython

    _ipython.unload(ipython)
