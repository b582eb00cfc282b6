"""Serves hand-made generations to prestage._reload without a daemon (used by test_reload_offline).

A generation dir is laid out like the daemon's: a complete sys.path entry. `serve(name, resolved)`
takes a dict shaped exactly like spec/resolve's result."""
import importlib.abc

from prestage import _reload


class GenerationFinder(importlib.abc.MetaPathFinder):
    def __init__(self, helper_path=None):
        self.state = _reload.ReloadState()
        self.resolved = {}
        self.helper_finder = (lambda resolved: helper_path) if helper_path else None

    def serve(self, name, resolved):
        self.resolved[name] = resolved

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        resolved = self.resolved.get(top)
        if resolved is None:
            return None
        if name != top:
            if target is None:
                self.state.submodules.add(name)
            if target is not None and hasattr(target, "__path__"):
                return _reload.spec_for_reload(target, resolved, self.state, self.helper_finder)
            return _reload.artifact_spec(name, path, self.state)
        if target is None:
            return _reload.spec_for_import(name, resolved, self.state)
        return _reload.spec_for_reload(target, resolved, self.state, self.helper_finder)
