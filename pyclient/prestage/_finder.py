"""The MetaPathFinder: answers "not ours" from memory, and returns specs in staged generations."""
import importlib.abc
import importlib.util
import os
import re
import sys
import threading
import time

from . import _progress, _reentry, _reload
from ._change_page import ChangePage
from ._distributions import Distributions
from ._client import Client, encode
from ._errors import BUILD_FAILED, BUILD_TIMEOUT, BuildError, BuildTimeout, PrestageError, RpcError

_SINGLE_FILE_SUFFIXES = (".rs", ".cpp")
_PROJECT_MARKERS = ("Cargo.toml", "pyproject.toml", "CMakeLists.txt")
_PROGRESS_AFTER_S = 1.0
_PREFETCH_WAIT_S = 20.0  # the push thread's prefetch waits for a round already under way
_REFRESH_RETRY_S = 1.0  # after project/list failed (daemon down), unrelated imports do not ask again sooner
_NAMES_FROM_BUILD = ("cmake", "meson", "setuptools")  # kinds whose full list of names only a build gives


# A CMakeLists.txt containing one of these builds a Python module (pybind11, nanobind or FindPython).
_CMAKE_MODULE_MARKERS = ("pybind11", "nanobind_add_module", "python_add_library(", "python3_add_library(")
# The daemon's setuptools claim (server/builders/setuptools_claim.cpp, setuptools_rust.cpp): a setup.py
# declaring extensions (setuptools-rust's too), or [tool.setuptools] ext-modules or [tool.setuptools-rust],
# under no build backend or setuptools.build_meta.
_SETUP_PY_EXTENSION = re.compile(r"ext_modules|Extension\s*\(|cythonize\s*\(|rust_extensions|setuptools_rust")
_BUILD_BACKEND = re.compile(r"""^\s*build-backend\s*=\s*["']([^"']*)["']""", re.MULTILINE)


def _read_small(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as stream:
            return stream.read(65536)
    except OSError:
        return ""


def _setuptools_builds_extensions(directory, pyproject_text):
    backend = _BUILD_BACKEND.search(pyproject_text)
    if backend and backend.group(1) not in ("setuptools.build_meta", "setuptools.build_meta:__legacy__"):
        return False
    if "[tool.setuptools]" in pyproject_text and "ext-modules" in pyproject_text:
        return True
    if "tool.setuptools-rust" in pyproject_text:
        return True
    return _SETUP_PY_EXTENSION.search(_read_small(os.path.join(directory, "setup.py"))) is not None


def _is_project_root(directory):
    cargo = os.path.join(directory, "Cargo.toml")
    if os.path.isfile(cargo):
        text = _read_small(cargo)
        if "pyo3" in text or "[workspace]" in text:  # a workspace root: the daemon finds its extension member
            return True
    pyproject = os.path.join(directory, "pyproject.toml")
    text = _read_small(pyproject) if os.path.isfile(pyproject) else ""
    # scikit_build_core.build / .setuptools.build_meta, hatchling's hooks.scikit-build, or mesonpy
    if "maturin" in text or "scikit_build_core" in text or "hooks.scikit-build" in text or "mesonpy" in text:
        return True
    if _setuptools_builds_extensions(directory, text):
        return True
    cmake = os.path.join(directory, "CMakeLists.txt")
    if not os.path.isfile(cmake):
        return False
    text = _read_small(cmake).lower()
    return any(marker in text for marker in _CMAKE_MODULE_MARKERS)


def project_root_of(entry, levels=1):
    """The project root that is `entry` or contains it (within `levels` parents), or None."""
    directory = os.path.abspath(entry or os.getcwd())
    if "site-packages" in directory or "dist-packages" in directory:
        return None
    for _ in range(levels + 1):
        if _is_project_root(directory):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return None


def _raise_unless_timeout(name, error):
    """A spec/resolve RpcError as the import error it means; returns when the build is still running."""
    if error.code == BUILD_FAILED:
        raise BuildError.from_rpc_data(name, error.data) from None
    if error.code != BUILD_TIMEOUT:
        raise PrestageError(f"prestage: resolving {name!r} failed: {error}", name=name) from None


class PrestageFinder(importlib.abc.MetaPathFinder):
    """Finds modules provided by projects open in prestaged.

    Every import and reload of a managed module asks the daemon once (`spec/resolve` with `sync`), so
    it reflects every save completed before it started, unless the daemon's change page shows that
    nothing changed since the last answer (_change_page): then that answer is reused. Imports that
    prestage's own client code makes never reach it (_reentry)."""

    def __init__(self, client=None, *, enable_reloading=True, wait_timeout=300.0, python=None, helper_finder=None):
        self.client = client
        self.enable_reloading = enable_reloading
        self.wait_timeout = wait_timeout
        self.python = python or sys.executable
        self.state = _reload.ReloadState()
        self._own_helper = helper_finder  # (answer) -> a helper compiled by the client, or None
        self._lock = threading.RLock()
        self._managed = {}  # top-level module name -> project dict from project/list
        self._single_files = {}  # top-level module name -> path of name.rs / name.cpp on sys.path
        self._dir_stems = {}  # directory -> {stem: path} of single-file sources
        self._path_snapshot = None
        self._stale = True
        self._retry_refresh_at = 0.0
        self._opened_roots = set()
        self.pending_reload_projects = set()
        self.newest_generation = {}  # project id -> newest good generation announced by push
        self._push_client = None  # the push thread's own client, so it never waits on the importing threads'
        self._synced_bodies = {}  # (name, loaded) -> the encoded syncing spec/resolve request
        self.distributions = Distributions()  # importlib.metadata: dist-info paths from spec/resolve answers
        self._seen_generation = {}  # project id -> generation of its last answer
        self._names_may_grow = False  # a new generation came: a name not in _managed may be in project/list now
        self._change_page = None  # from the daemon the push channel is connected to
        self._answers = {}  # (name, loaded) -> (change page mark taken before asking, answer)
        self._first_builds_waited = set()  # project ids whose first build a name no finder had waited for

    # -- caches -------------------------------------------------------------------------------
    def invalidate_caches(self):
        self._stale = True
        self._path_snapshot = None
        self._dir_stems.clear()

    def mark_stale(self):
        self._stale = True

    def _refresh_managed(self):
        if time.monotonic() < self._retry_refresh_at:
            return
        with self._lock:
            self._stale = False
            if self.client is None:
                return
            try:
                projects = self.client.call("project/list", timeout=10.0)
            except Exception:  # noqa: BLE001 - a dead daemon must not break unrelated imports
                self._stale = True
                self._retry_refresh_at = time.monotonic() + _REFRESH_RETRY_S  # nor slow them down
                return
            self._managed = {name: project for project in projects or () for name in project.get("modules", ())}

    def _stems_in(self, directory):
        stems = self._dir_stems.get(directory)
        if stems is None:
            stems = {}
            try:
                names = os.listdir(directory or ".")
            except OSError:
                names = ()
            for file_name in names:
                stem, suffix = os.path.splitext(file_name)
                if suffix in _SINGLE_FILE_SUFFIXES and stem.isidentifier():
                    stems.setdefault(stem, os.path.join(os.path.abspath(directory or "."), file_name))
            self._dir_stems[directory] = stems
        return stems

    def _rescan_sys_path(self):
        with self._lock:
            snapshot = list(sys.path)
            single_files = {}
            for entry in snapshot:
                if not isinstance(entry, str):
                    continue
                for stem, path in self._stems_in(entry).items():
                    single_files.setdefault(stem, path)
                if self.client is not None:
                    root = project_root_of(entry)
                    if root is not None and root not in self._opened_roots:
                        self._opened_roots.add(root)
                        try:
                            self.open_project(root)
                        except Exception as error:  # noqa: BLE001
                            sys.stderr.write(f"prestage: could not open {root}: {error}\n")
            self._single_files = single_files
            self._path_snapshot = snapshot

    def open_project(self, root):
        result = self.client.call("project/open", {"root": os.path.abspath(root), "python": self.python})
        for name in result.get("modules", ()):
            self._managed.setdefault(name, result)
        self._stale = True
        return result

    # -- the import protocol --------------------------------------------------------------------
    def find_spec(self, fullname, path=None, target=None):
        if _reentry.active():  # an import made by prestage's own client code or thread
            return None
        if self._stale:
            self._refresh_managed()
        if sys.path != self._path_snapshot:
            self._rescan_sys_path()
        top, dot, _ = fullname.partition(".")
        if not dot:
            if fullname not in self._managed and self._names_may_grow:
                self._names_may_grow = False
                self._refresh_managed()
            if fullname not in self._managed:
                single = self._single_files.get(fullname)
                if single is None:
                    return None
                self._open_single_file(single)
            return self._top_level_spec(fullname, target)
        if top in self._managed:
            if target is None:
                self.state.submodules.add(fullname)
                return _reload.artifact_spec(fullname, path, self.state)
            if not self.enable_reloading:
                return None
            if hasattr(target, "__path__"):  # a subpackage: unload its changed extensions
                resolved = self._resolve(top, loaded=True)
                return None if resolved is None else _reload.spec_for_reload(target, resolved, self.state, self._pybind11_helper)
            return None
        if path is not None:  # name.rs / name.cpp in a package's __path__
            leaf = fullname.rpartition(".")[2]
            for directory in path:
                single = self._stems_in(directory).get(leaf)
                if single is not None:
                    self._open_single_file(single)
                    resolved = self._resolve(fullname, loaded=target is not None)
                    if resolved is None:
                        return None
                    if target is not None and self.enable_reloading:
                        return _reload.spec_for_reload(target, resolved, self.state, self._pybind11_helper)
                    return _reload.spec_for_import(fullname, resolved, self.state) if target is None else None
        return None

    def _pybind11_helper(self, resolved):
        """The helper a reload of pybind11 classes needs when the answer named none. While the daemon
        still compiles it (pybind11_helper_pending) asks again, waiting for it; the client compiles its
        own only when the daemon names none after all."""
        artifacts = resolved.get("artifacts") or ()
        if resolved.get("pybind11_helper_pending") and artifacts and self.client is not None:
            params = {"python": self.python, "loaded": True, "needs_pybind11_helper": True}
            deadline = time.monotonic() + self.wait_timeout
            while time.monotonic() < deadline:
                params["wait"] = min(deadline - time.monotonic(), 30.0)
                try:
                    again = self.client.call("spec/resolve", {**params, "name": artifacts[0]["module"]},
                                             timeout=params["wait"] + 30)
                except RpcError as error:
                    if error.code == BUILD_TIMEOUT:
                        continue
                    break
                if isinstance(again, dict) and again.get("pybind11_helper"):
                    return again["pybind11_helper"]
                break
        return self._own_helper(resolved) if self._own_helper is not None else None

    # -- names only a first build gives -----------------------------------------------------------
    def find_spec_after_first_builds(self, name):
        """Asked by FirstBuildFinder, last on sys.meta_path, for a top-level name no finder has: an open
        cmake, meson or setuptools project may install it (a module beside its package, or a project
        without one) but say so only after its first build. Waits (once per project, bounded by
        wait_timeout) for those first builds, learns their names and serves `name` if one has it."""
        if _reentry.active() or self.client is None or "." in name:
            return None
        if self._stale:
            self._refresh_managed()
        # The list the finder holds may be older than a first build, never newer: the daemon is asked
        # only while it names a project that may still be waiting for one.
        if not any(self._first_build_pending(p) for p in self._managed.values()):
            return None
        self._refresh_managed()
        pending = list(dict.fromkeys(p["id"] for p in self._managed.values() if self._first_build_pending(p)))
        if not pending:
            return None
        self._first_builds_waited.update(pending)
        sys.stderr.write(f"prestage: waiting for the first build of {', '.join(pending)} (it may provide {name!r})...\n")
        try:
            sync_until_idle(self.client, pending, self.wait_timeout, "prestage")
        except Exception:  # noqa: BLE001 - a timeout or a dead daemon: the import then fails as without prestage
            pass
        self._retry_refresh_at = 0.0
        self._refresh_managed()
        if name not in self._managed:
            return None
        return self._top_level_spec(name, None)

    def _first_build_pending(self, project):
        return (project.get("kind") in _NAMES_FROM_BUILD and not project.get("generation")
                and project.get("id") not in self._first_builds_waited)

    def _open_single_file(self, source):
        if source in self._opened_roots:
            return None
        self._opened_roots.add(source)
        return self.open_project(source)

    def _top_level_spec(self, name, target):
        if target is None:
            resolved = self._resolve(name, loaded=False)
            return None if resolved is None else _reload.spec_for_import(name, resolved, self.state)
        if not self.enable_reloading:
            return self._unchanged_spec(target)
        resolved = self._resolve(name, loaded=True)
        if resolved is None:
            return None
        return _reload.spec_for_reload(target, resolved, self.state, self._pybind11_helper)

    # -- importlib.metadata ----------------------------------------------------------------------
    def find_distributions(self, context=None):
        """importlib.metadata's finder hook: the .dist-info in the generation of each open project
        that has one (for `context.name`, or all). Names no open project provides are answered from
        the project list the finder holds; see _distributions."""
        if _reentry.active() or self.client is None:
            return iter(())
        if sys.path != self._path_snapshot:
            self._rescan_sys_path()  # opens the project the interpreter runs in, as an import would
        if self._stale or self._names_may_grow:
            self._names_may_grow = False
            self._refresh_managed()
        projects = list({project.get("id"): project for project in self._managed.values()}.values())
        name = getattr(context, "name", None)
        return iter(self.distributions.find(name, projects, self._resolve_project, self._project_loaded))

    def _resolve_project(self, project):
        modules = project.get("modules") or ()
        return self._resolve(modules[0], loaded=False) if modules else None

    def _project_loaded(self, project_id):
        return any(owner == project_id and name in sys.modules for name, owner in list(self.state.project_by_module.items()))

    @staticmethod
    def _unchanged_spec(module):
        """enable_reloading=False: reload from where the module already is (extensions stay)."""
        origin = getattr(module, "__file__", None)
        if origin is None:
            return None
        locations = list(module.__path__) if hasattr(module, "__path__") else None
        if _reload.is_extension_path(origin):
            return _reload.extension_file_spec(module.__name__, origin)
        return importlib.util.spec_from_file_location(module.__name__, origin, submodule_search_locations=locations)

    # -- daemon ---------------------------------------------------------------------------------
    def _resolve(self, name, *, loaded):
        """The newest spec of `name`: the kept answer when the change page shows nothing changed
        since it was asked for; otherwise asks, first with sync: the daemon takes in every save
        completed before it (and waits for the build they start); past its first second,
        _wait_for_build waits on and shows the build's progress."""
        page = self._change_page
        top_level = "." not in name
        if page is not None and top_level:
            kept = self._answers.get((name, loaded))
            if kept is not None and page.unchanged(kept[0]):
                return self._answer(kept[1])
        marked = self._mark(page, name) if top_level else None
        params = {"python": self.python, "wait": _PROGRESS_AFTER_S, "loaded": loaded, "sync": True}
        deadline = time.monotonic() + self.wait_timeout
        try:
            if top_level and hasattr(self.client, "send"):
                resolved = self._ask_synced(name, params)
            else:
                resolved = self._ask(self.client, name, params, params["wait"] + 60)
        except RpcError as error:
            _raise_unless_timeout(name, error)
            params["sync"] = False
            return self._wait_for_build(name, params, deadline)
        self._keep(name, loaded, marked, resolved)
        return self._answer(resolved)

    def _mark(self, page, name):
        """(project id, the change page's mark of its line), taken before asking; None without a page."""
        project = self._managed.get(name)
        if page is None or not project or not project.get("id"):
            return None
        mark = page.mark(project["id"])
        return None if mark is None else (project["id"], mark)

    def _keep(self, name, loaded, marked, resolved):
        # Only an answer from the project whose line was read: the mark says nothing about another.
        # (One with pybind11_helper_pending goes stale when the helper is ready: the global epoch moves.)
        if marked is not None and isinstance(resolved, dict) and resolved.get("project") == marked[0]:
            self._answers[(name, loaded)] = (marked[1], resolved)

    def _wait_for_build(self, name, params, deadline):
        """The build outlasted the first ask: asks again (without sync) in short long-polling slices
        until it is over, showing the progress each timeout carries."""
        reporter = _progress.BuildProgressReporter(name)
        reporter.update(None)  # the first second has passed: say what the import waits for
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BuildTimeout(
                        f"prestage: the build providing {name!r} did not finish within {self.wait_timeout:g} s "
                        "(see `python -m prestage status`)",
                        name=name,
                    )
                params["wait"] = min(remaining, reporter.slice_s)
                try:
                    resolved = self._ask(self.client, name, params, params["wait"] + 60)
                except RpcError as error:
                    _raise_unless_timeout(name, error)
                    reporter.update(error.data.get("progress") if isinstance(error.data, dict) else None)
                    continue
                return self._answer(resolved)
        finally:
            reporter.close()

    def _answer(self, resolved):
        """What every answer from the daemon updates before the import uses it."""
        self.distributions.record(resolved)
        return self._learn_modules(resolved)

    def _learn_modules(self, resolved):
        """A cmake project's build can add top-level names (a module CMake installs next to the
        package); project/list has them once that generation is out. So after a new generation the
        next import of a top-level name the finder does not know asks project/list first; imports of
        known names (a reload's own submodules) make no second round trip."""
        if isinstance(resolved, dict):
            project, generation = resolved.get("project"), resolved.get("generation")
            if project is not None and self._seen_generation.get(project) != generation:
                self._seen_generation[project] = generation
                self._names_may_grow = True
        return resolved

    def _ask_synced(self, name, params):
        """The first, syncing ask of a top-level name: the hot call of every reload. Its request body
        is made once, and an answer identical to the last one is not parsed again."""
        key = (name, params["loaded"])
        body = self._synced_bodies.get(key)
        if body is None:
            body = self._synced_bodies[key] = encode("spec/resolve", {**params, "name": name})
        return self.client.send(body, "spec/resolve", params["wait"] + 60, reuse=True)

    def _ask(self, client, name, params, timeout):
        resolved = client.call("spec/resolve", {**params, "name": name}, timeout=timeout)
        if resolved is None and "." in name and name.partition(".")[0] not in self._managed:
            # name.rs / name.cpp found in a package's __path__: its project provides the leaf name.
            resolved = client.call("spec/resolve", {**params, "name": name.rpartition(".")[2]}, timeout=timeout)
        return resolved

    def _prefetch(self, project):
        """On the push thread, when a build of `project` finished: readies what the next reload of its
        loaded modules needs (code objects, specs), so that reload does no compiling of its own."""
        client = self._push_thread_client()
        if client is None:
            return
        names = [name for name, owner in list(self.state.project_by_module.items()) if owner == project and name in sys.modules]
        for name in names:
            try:
                marked = self._mark(self._change_page, name) if "." not in name else None
                # `wait`: a save taken in after the build finished has already moved the page past
                # `marked`; answered without waiting, the old generation would be kept under the new mark.
                resolved = self._ask(client, name, {"python": self.python, "loaded": True, "wait": _PREFETCH_WAIT_S},
                                     _PREFETCH_WAIT_S + 30.0)
                if isinstance(resolved, dict):
                    _reload.prepare_reload(name, resolved, self.state)
                    self._keep(name, True, marked, resolved)
            except Exception:  # noqa: BLE001 - a failed prefetch only means the reload does the work itself
                continue

    def _fetch_change_page(self):
        client = self.client
        if client is None or not hasattr(client, "token"):
            return None
        try:
            return ChangePage.fetch(client.state_dir, client.token)
        except Exception:  # noqa: BLE001 - without it every reload asks, as before
            return None

    def _push_thread_client(self):
        if self._push_client is None and self.client is not None and hasattr(self.client, "info"):
            self._push_client = Client(self.client.info, self.client.state_dir)
        return self._push_client

    # -- push events (called on the push thread; never runs user code) --------------------------------
    def on_event(self, method, params):
        if method == "connected":
            self._stale = True
            self.state.prepared_code.clear()  # perhaps another daemon: generation paths may be reused
            self._push_client = None  # follow the client to the daemon it now talks to
            self._answers.clear()
            self._change_page = self._fetch_change_page()
        elif method == "disconnected":
            self._change_page = None  # the daemon that bumps it may be gone
            self._answers.clear()
        elif method == "projects/changed":
            self._stale = True
            self._answers.clear()  # another project may provide a name now
        elif method == "build/finished":
            if params.get("ok"):
                self.newest_generation[params.get("project")] = params.get("generation")
                self._prefetch(params.get("project"))
        elif method == "reload/requested":
            self.pending_reload_projects.add(params.get("project"))

    # -- helpers for notebooks ------------------------------------------------------------------
    def managed_loaded_modules(self):
        """{module name: project id} for loaded top-level modules this finder manages."""
        loaded = {}
        for name, project in self.state.project_by_module.items():
            if "." not in name and name in sys.modules:
                loaded[name] = project
        return loaded


def sync_until_idle(client, projects, timeout, caller):
    """Returns project/list once every save completed before the call has been taken in and the given
    projects (ids; None: every open one) are idle; raises TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    params = {} if projects is None else {"projects": list(projects)}
    while True:
        budget = min(max(deadline - time.monotonic(), 0.0), 30.0)
        busy = None
        try:
            listed = client.call("sync", {**params, "wait": budget}, timeout=budget + 30)["projects"]
            busy = [str(project.get("root")) for project in listed if project.get("state") != "idle"]
            if not busy:
                return list(listed)
        except RpcError as error:
            if error.code != BUILD_TIMEOUT:
                raise
            busy = list((error.data or {}).get("projects", []))
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{caller}: still building after {timeout:g} s: {', '.join(busy or ['?'])}")


class FirstBuildFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: a top-level name that no other finder has goes to the PrestageFinder's
    find_spec_after_first_builds, so only imports that would fail wait for a first build."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or target is not None:
            return None
        return self.finder.find_spec_after_first_builds(fullname)
