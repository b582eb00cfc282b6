"""Loading and reloading from a resolved spec (the result of the daemon's spec/resolve).

A resolved spec is `{project, generation, origin, submodule_search_locations, path_entry,
artifacts: [{module, path, sha256}], pybind11_helper?}`; a generation directory is a complete
sys.path entry. Nothing here talks to the daemon, so it can be driven with hand-made generations.
"""
import atexit
import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import types
import weakref
from pathlib import Path

EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
# Import-related attributes that keep describing the original module on a single-file reload.
_KEPT_ATTRIBUTES = frozenset(
    {"__name__", "__file__", "__spec__", "__loader__", "__package__", "__path__", "__cached__", "__builtins__"}
)


def is_extension_path(path):
    return isinstance(path, str) and path.endswith(EXTENSION_SUFFIXES)


def _sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ReloadState:
    """What this process has loaded: artifact hashes, generations, pybind11 helpers."""

    def __init__(self):
        self.sha_by_path = {}
        self.generation_by_module = {}  # managed module name -> generation it was (re)loaded from
        self.project_by_module = {}
        self.loaded_extension_paths = set()
        self.artifact_paths = {}  # extension module name -> its path in the newest generation resolved
        self.package_code = {}  # module name -> (origin, source bytes, code object) it last ran
        self.submodules = set()  # dotted names imported below managed top-level modules (noted by the finder)
        self._cached_paths = {}  # origin -> its __cached__ path, computed once
        self.prepared_code = {}  # module name -> (origin, source bytes, code object) for its next reload
        self.pybind11_typed = weakref.WeakKeyDictionary()  # loaded extension module -> defines pybind11 types
        self.prepared_specs = {}  # module name -> (origin, spec) made ahead for its next load; used once
        self.preloaded = {}  # extension module name -> (path, dlopen handle) mapped ahead of its reload
        self._helpers = {}
        self._fresh_dir = None
        self._fresh_count = 0
        self._lock = threading.RLock()

    def record(self, resolved):
        for artifact in resolved.get("artifacts") or ():
            self.sha_by_path[artifact["path"]] = artifact["sha256"]
            self.artifact_paths[artifact["module"]] = artifact["path"]

    def sha_of_loaded(self, path):
        """The sha256 of a loaded extension file: from a spec we resolved, else hashed once."""
        sha = self.sha_by_path.get(path)
        if sha is None:
            try:
                sha = _sha256_of(path)
            except OSError:
                return None
            self.sha_by_path[path] = sha
        return sha

    def fresh_copy(self, path):
        """A private copy (new inode, new path) of an extension, so dlopen maps it afresh."""
        with self._lock:
            if self._fresh_dir is None:
                self._fresh_dir = tempfile.mkdtemp(prefix=f"prestage-reload-{os.getpid()}-")
                atexit.register(shutil.rmtree, self._fresh_dir, True)
            self._fresh_count += 1
            directory = os.path.join(self._fresh_dir, str(self._fresh_count))
            os.mkdir(directory)
            target = os.path.join(directory, os.path.basename(path))
            shutil.copyfile(path, target)
            return target

    def pybind11_helper(self, helper_path):
        """Loads (once) the _prestage_pybind11 helper at helper_path. Helpers of the same pybind11
        internals (one per process) share one copy: it keeps what earlier reloads merged."""
        with self._lock:
            helper = self._helpers.get(helper_path)
            if helper is None:
                spec = importlib.util.spec_from_file_location("_prestage_pybind11", helper_path)
                if spec is None:
                    raise ImportError(f"prestage: cannot load the pybind11 helper {helper_path}")
                helper = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(helper)
                helper = _helper_by_internals.setdefault(helper.internals_id, helper)
                self._helpers[helper_path] = helper
            return helper


# pybind11 internals id -> the helper loaded first for it in this process.
_helper_by_internals = {}


def defines_pybind11_types(module):
    """Whether the extension module (or a submodule it made with def_submodule) binds pybind11 classes."""
    return any(
        (isinstance(value, type) and type(value).__name__ == "pybind11_type")
        or (isinstance(value, types.ModuleType) and value.__name__.startswith(module.__name__ + ".") and defines_pybind11_types(value))
        for value in list(vars(module).values())
    )


# Extension name -> (helper, old module) that released its types, until the fresh copy's load
# settles them; and the releases rolled back because no fresh copy loaded (yet).
_pybind11_unsettled = {}
_pybind11_rolled_back = {}


def release_pybind11_types(module, resolved, state, helper_finder=None):
    """Before a fresh copy of `module` loads, takes its pybind11 types out of pybind11's registry.
    The load of the fresh copy settles them (ExtensionLoader; settle_pybind11_types)."""
    typed = state.pybind11_typed.get(module)
    if typed is None:
        typed = defines_pybind11_types(module)
    if not typed:
        return []
    helper_path = resolved.get("pybind11_helper")
    if not helper_path and helper_finder is not None:
        helper_path = helper_finder(resolved)
    if not helper_path:
        return []
    helper = state.pybind11_helper(helper_path)
    released = list(helper.release_module_types(module))
    _pybind11_unsettled[module.__name__] = (helper, module)
    return released


def settle_pybind11_types(name, fresh):
    """After a fresh copy of extension `name` loaded (`fresh`), or failed to (None): old classes whose
    C++ layout is unchanged merge into the new ones, the others stay apart, a failure rolls back.
    Returns {class: outcome}."""
    helper, _ = _pybind11_unsettled.pop(name, (None, None))
    if helper is None:
        return {}
    outcome = dict(helper.settle_module_types(name, fresh))
    for label, result in outcome.items():
        if result.startswith("kept apart"):
            sys.stderr.write(
                f"prestage: {label} {result[len('kept apart: '):]}; its objects from before the reload work only "
                "with the old code, and the old code must not be given new ones\n"
            )
    return outcome


def settle_unloaded_pybind11_types():
    """Rolls back the releases whose extension was not loaded again (a package __init__ that failed
    first, or no longer imports it): the old classes go back into pybind11's registry."""
    for name, release in list(_pybind11_unsettled.items()):
        if name not in sys.modules:
            settle_pybind11_types(name, None)
            _pybind11_rolled_back[name] = release


def _release_again(name):
    """A fresh copy of `name` loads after its release was rolled back: release the old types again."""
    helper, old_module = _pybind11_rolled_back.pop(name, (None, None))
    if helper is not None:
        helper.release_module_types(old_module)
        _pybind11_unsettled[name] = (helper, old_module)


def forget_extension_submodules(module):
    """Drops from sys.modules the submodules an extension made (pybind11's def_submodule registers
    them there), so that a fresh copy creates its own rather than reusing the old ones.
    Returns {name: module} dropped, for put_back_submodules."""
    prefix = module.__name__ + "."
    reachable, pending = {}, [module]
    while pending:
        for value in list(vars(pending.pop()).values()):
            if isinstance(value, types.ModuleType) and getattr(value, "__name__", "").startswith(prefix) and id(value) not in reachable:
                reachable[id(value)] = value
                pending.append(value)
    dropped = {}
    for value in reachable.values():  # looked up by name: no scan of sys.modules on every reload
        name = value.__name__
        if sys.modules.get(name) is value:
            dropped[name] = sys.modules.pop(name)
    return dropped


def put_back_submodules(module, dropped):
    """Undoes forget_extension_submodules after a failed load, dropping what the failed copy made."""
    prefix = module.__name__ + "."
    for name in [name for name in sys.modules if name.startswith(prefix) and name not in dropped]:
        if isinstance(sys.modules[name], types.ModuleType) and getattr(sys.modules[name], "__file__", None) is None:
            del sys.modules[name]
    sys.modules.update(dropped)


def _locate(name, resolved):
    """(origin, submodule_search_locations) of `name` inside the resolved generation."""
    top = name.partition(".")[0]
    origin = resolved["origin"]
    if name == top or not resolved.get("path_entry"):
        return origin, resolved.get("submodule_search_locations")
    for artifact in resolved.get("artifacts") or ():
        if artifact["module"] == name:
            return artifact["path"], None
    relative = Path(resolved["path_entry"], *name.split("."))
    init = relative / "__init__.py"
    if init.is_file():
        return str(init), [str(relative)]
    module_file = relative.with_suffix(".py")
    if module_file.is_file():
        return str(module_file), None
    return None, None


def _prepared_spec(name, origin, state):
    prepared = state.prepared_specs.pop(name, None)
    return prepared[1] if prepared is not None and prepared[0] == origin else None


def _new_source_spec(name, origin, locations, state):
    if not origin.endswith(".py"):
        return importlib.util.spec_from_file_location(name, origin, submodule_search_locations=locations)
    spec = importlib.util.spec_from_file_location(
        name, origin, loader=StagedSourceLoader(name, origin, state), submodule_search_locations=locations
    )
    cached = state._cached_paths.get(origin)
    if cached is None:
        cached = state._cached_paths[origin] = importlib.util.cache_from_source(origin)
    spec.cached = cached  # what importlib would compute for __cached__, without computing it each time
    return spec


def _source_spec(name, origin, locations, state):
    spec = _prepared_spec(name, origin, state)
    if spec is not None and spec.submodule_search_locations == locations:
        return spec
    return _new_source_spec(name, origin, locations, state)


class ExtensionLoader(importlib.machinery.ExtensionFileLoader):
    """The standard extension loader, telling the pybind11 helper when a fresh copy has loaded."""

    def create_module(self, spec):
        _release_again(self.name)
        try:
            return super().create_module(spec)
        except BaseException:
            settle_pybind11_types(self.name, None)
            raise

    def exec_module(self, module):
        try:
            super().exec_module(module)
        except BaseException:
            settle_pybind11_types(self.name, None)
            raise
        settle_pybind11_types(self.name, module)


def extension_file_spec(name, path, locations=None):
    """A spec that loads the extension file at `path` as `name`."""
    loader = ExtensionLoader(name, path)
    return importlib.util.spec_from_file_location(name, path, loader=loader, submodule_search_locations=locations)


def extension_spec(name, path, state):
    state.loaded_extension_paths.add(path)
    return _prepared_spec(name, path, state) or extension_file_spec(name, path)


def artifact_spec(name, path, state):
    """The spec of extension `name` when it is an artifact of a resolved generation inside `path`
    (the parent package's __path__): what the path finder would find there, without listing it."""
    artifact = state.artifact_paths.get(name)
    if artifact is None or path is None or os.path.dirname(artifact) not in path:
        return None
    return extension_spec(name, artifact, state)


def spec_for_import(name, resolved, state):
    """The spec of a first import of `name` from the resolved generation."""
    state.record(resolved)
    origin, locations = _locate(name, resolved)
    if origin is None:
        return _namespace_spec(name, locations)
    if is_extension_path(origin):
        state.loaded_extension_paths.add(origin)
        spec = extension_file_spec(name, origin, locations)
    else:
        spec = _source_spec(name, origin, locations, state)
    state.generation_by_module[name] = resolved.get("generation")
    state.project_by_module[name] = resolved.get("project")
    return spec


def _namespace_spec(name, locations):
    """A namespace package (a directory with no __init__.py in the generation), as the path finder
    makes one: no origin, no loader; other portions on sys.path outside the generation's project
    still join its __path__. None when the answer names no directory either."""
    if not locations:
        return None
    portions = list(locations)
    leaf = name.rpartition(".")[2]
    if "." not in name:
        for entry in sys.path:
            candidate = os.path.join(entry or os.getcwd(), leaf)
            if candidate not in portions and os.path.isdir(candidate) and not os.path.isfile(os.path.join(candidate, "__init__.py")):
                portions.append(candidate)
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = portions
    return spec


def spec_for_reload(module, resolved, state, helper_finder=None):
    """The spec that importlib.reload(module) executes, after unloading changed extensions."""
    name = module.__name__
    state.record(resolved)
    current_file = getattr(module, "__file__", None)
    if is_extension_path(current_file):
        return _spec_for_extension_reload(module, resolved, state, helper_finder)
    origin, locations = _locate(name, resolved)
    if origin is None:
        return _namespace_spec(name, locations)
    if state.generation_by_module.get(name) != resolved.get("generation"):  # same generation: nothing changed
        if hasattr(module, "__path__"):
            _unload_changed_extensions(module, resolved, state, helper_finder)
        else:
            _unload_changed_imported_extensions(module, resolved, state, helper_finder)
    state.generation_by_module[name] = resolved.get("generation")
    state.project_by_module[name] = resolved.get("project")
    return _source_spec(name, origin, locations, state)


def _with_filename(code, filename):
    """`code` (and the code objects nested in it) with co_filename set to `filename`."""
    consts = tuple(_with_filename(const, filename) if isinstance(const, types.CodeType) else const for const in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


class StagedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's source from a generation. Generations are immutable, and a new one usually
    carries the same Python files: when the source is byte-identical to what last ran under this
    name, the code object is reused rather than compiled (and no .pyc is written into the generation).
    A reload after a prefetch finds its code object ready (prepare_reload)."""

    def __init__(self, fullname, path, state):
        super().__init__(fullname, path)
        self._state = state

    def exec_module(self, module):
        try:
            super().exec_module(module)
        finally:
            settle_unloaded_pybind11_types()

    def get_code(self, fullname):
        known = self._state.package_code.get(fullname)
        if known is not None and known[0] == self.path:
            return known[2]  # the same generation's file: generations never change
        prepared = self._state.prepared_code.get(fullname)
        if prepared is not None and prepared[0] == self.path:
            self._state.package_code[fullname] = prepared
            return prepared[2]
        source = self.get_data(self.path)
        code = _code_for(fullname, self.path, source, self._state)
        if code is None:
            code = super().get_code(fullname)
        self._state.package_code[fullname] = (self.path, source, code)
        return code


def _code_for(name, path, source, state):
    """The code object `name` last ran, with co_filename `path`, if `source` is the same; else None."""
    known = state.package_code.get(name)
    if known is None or known[1] != source:
        return None
    code = known[2]
    return code if code.co_filename == path else _with_filename(code, path)


def prepare_reload(name, resolved, state):
    """On the push thread, after a prefetch: readies what the next reload of `name` from `resolved`
    will need, so that it does no file reads or compiling of its own. Runs no user code."""
    module = sys.modules.get(name)
    if module is None:
        return
    origin, locations = _locate(name, resolved)
    prepared = state.prepared_code.get(name)
    if isinstance(origin, str) and origin.endswith(".py") and hasattr(module, "__path__") and (prepared is None or prepared[0] != origin):
        try:
            with open(origin, "rb") as stream:
                source = stream.read()
            code = _code_for(name, origin, source, state) or compile(source, origin, "exec", dont_inherit=True)
            state.prepared_code[name] = (origin, source, code)
        except (OSError, SyntaxError, ValueError):
            pass  # the reload reads and compiles it itself, and reports the error
    if isinstance(origin, str) and hasattr(module, "__path__"):
        state.prepared_specs[name] = (origin, _new_source_spec(name, origin, locations, state))
    prefix = name + "."
    helper_path = resolved.get("pybind11_helper")
    for artifact in resolved.get("artifacts") or ():
        if artifact["module"] != name and not artifact["module"].startswith(prefix):
            continue
        loaded = sys.modules.get(artifact["module"])
        if loaded is None:
            continue
        if artifact["module"] != name and artifact["sha256"] != state.sha_by_path.get(getattr(loaded, "__file__", None)):
            spec = extension_file_spec(artifact["module"], artifact["path"])
            state.prepared_specs[artifact["module"]] = (artifact["path"], spec)
        typed = state.pybind11_typed[loaded] = defines_pybind11_types(loaded)
        if typed and helper_path:
            try:
                state.pybind11_helper(helper_path)
            except ImportError:
                pass  # the reload reports it
        if artifact["sha256"] != state.sha_by_path.get(getattr(loaded, "__file__", None)):
            _preload(artifact["module"], artifact["path"], state)


def _preload(name, path, state):
    """Maps the rebuilt extension at `path` now (dlopen, with the flags the import will use), so that
    the reload's own dlopen finds it loaded and only runs its PyInit: the mapping and relocation,
    most of a bare import, are done before the reload is asked for. The library's static
    initialisers run here, on the push thread, holding the GIL as an import does. A preload that a
    newer build supersedes before any reload used it is closed again."""
    if os.environ.get("PRESTAGE_PRELOAD", "1") == "0" or path in state.loaded_extension_paths:
        return
    earlier = state.preloaded.get(name)
    if earlier is not None and earlier[0] == path:
        return
    try:
        import _ctypes  # noqa: PLC0415 - only a process that reloads needs it
        handle = _ctypes.dlopen(path, sys.getdlopenflags())
    except (ImportError, OSError):
        return  # the reload's own import reports what is wrong with the file
    state.preloaded[name] = (path, handle)
    if earlier is not None and earlier[0] not in state.loaded_extension_paths:
        _ctypes.dlclose(earlier[1])


def _unload_changed_extensions(package, resolved, state, helper_finder):
    """Drops from sys.modules every extension inside the package (at any depth: `pkg.sub.ext` too)
    whose sha256 changed, and points the loaded subpackages' __path__ into the new generation, so that
    the next import of a dropped extension loads the new file."""
    prefix = package.__name__ + "."
    for artifact in resolved.get("artifacts") or ():
        if artifact["module"].startswith(prefix):
            _unload_if_changed(artifact, resolved, state, helper_finder)
    _repoint_subpackages(package, resolved, state)


def _unload_changed_imported_extensions(module, resolved, state, helper_finder):
    """For a plain module (not a package): drops the project's changed extensions that the module
    imported by name (SWIG's `example.py` does `import _example` beside it), so that its re-run
    imports the new file."""
    imported = {id(value) for value in vars(module).values() if isinstance(value, types.ModuleType)}
    for artifact in resolved.get("artifacts") or ():
        loaded = sys.modules.get(artifact["module"])
        if loaded is not None and loaded is not module and id(loaded) in imported:
            _unload_if_changed(artifact, resolved, state, helper_finder)


def _unload_if_changed(artifact, resolved, state, helper_finder):
    """Drops a loaded extension whose sha256 differs from the artifact's from sys.modules and from its
    parent's namespace."""
    module_name = artifact["module"]
    loaded = sys.modules.get(module_name)
    if loaded is None:
        return
    loaded_file = getattr(loaded, "__file__", None)
    if not is_extension_path(loaded_file) or state.sha_of_loaded(loaded_file) == artifact["sha256"]:
        return
    release_pybind11_types(loaded, resolved, state, helper_finder)
    forget_extension_submodules(loaded)
    del sys.modules[module_name]
    parent_name, _, child = module_name.rpartition(".")
    parent = sys.modules.get(parent_name)
    if parent is not None and parent.__dict__.get(child) is loaded:
        delattr(parent, child)


def _repoint_subpackages(package, resolved, state):
    """Loaded subpackages of `package` whose __path__ lies in an older generation of the same
    project get the new generation's directory instead (they are not re-run)."""
    entry = resolved.get("path_entry")
    if not entry:
        return
    generations = os.path.dirname(entry)
    prefix = package.__name__ + "."
    for name in list(state.submodules):
        module = sys.modules.get(name) if name.startswith(prefix) else None
        old_path = getattr(module, "__path__", None)
        if not isinstance(old_path, list) or not old_path:
            continue
        parts = name.split(".")
        new_dir = os.path.join(entry, *parts)
        old_entry = old_path[0]
        for _ in parts:
            old_entry = os.path.dirname(old_entry)
        if old_entry == entry or os.path.dirname(old_entry) != generations or not os.path.isdir(new_dir):
            continue
        module.__path__ = [new_dir]
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.submodule_search_locations is not None:
            spec.submodule_search_locations = [new_dir]


def _spec_for_extension_reload(module, resolved, state, helper_finder):
    origin, _ = _locate(module.__name__, resolved)
    if origin is None or not is_extension_path(origin):
        return None
    loader = FreshExtensionLoader(module.__name__, origin, resolved, state, helper_finder)
    # origin stays the original __file__: importlib.reload sets __file__ from it.
    return importlib.util.spec_from_file_location(
        module.__name__, module.__file__, loader=loader, submodule_search_locations=None
    )


class FreshExtensionLoader:
    """Loads a fresh copy of an extension and copies its namespace into the existing module."""

    def __init__(self, name, path, resolved, state, helper_finder=None):
        self.name = name
        self.path = path
        self.resolved = resolved
        self.state = state
        self.helper_finder = helper_finder

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = self.path
        if path in self.state.loaded_extension_paths or path == getattr(module, "__file__", None):
            path = self.state.fresh_copy(path)
        release_pybind11_types(module, self.resolved, self.state, self.helper_finder)
        submodules = forget_extension_submodules(module)
        try:
            fresh = load_extension_copy(self.name, path)
        except BaseException:
            put_back_submodules(module, submodules)
            raise
        self.state.loaded_extension_paths.add(self.path)
        self.state.loaded_extension_paths.add(path)
        kept = {key: module.__dict__[key] for key in _KEPT_ATTRIBUTES if key in module.__dict__}
        module.__dict__.update({key: value for key, value in vars(fresh).items() if key not in _KEPT_ATTRIBUTES})
        module.__dict__.update(kept)
        self.state.generation_by_module[self.name] = self.resolved.get("generation")
        self.state.project_by_module[self.name] = self.resolved.get("project")


def load_extension_copy(name, path):
    """Loads the extension at `path` (never dlopen'ed before) under `name`, leaving sys.modules as it was.

    The name's last component picks PyInit_<name>; CPython caches extensions by (path, name),
    so a new path runs the init function again. Single-phase init modules write themselves into
    sys.modules[name]; the previous entry is put back."""
    spec = extension_file_spec(name, path)
    loader = spec.loader
    missing = object()
    previous = sys.modules.get(name, missing)
    try:
        fresh = loader.create_module(spec)
        loader.exec_module(fresh)
    finally:
        if previous is missing:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    return fresh


def package_of(module_name):
    return module_name.rpartition(".")[0]
