"""importlib.metadata for managed projects: the `.dist-info` of their newest generation.

Each generation of a Python project holds `<name>-<version>.dist-info` at its root (written by the
daemon from pyproject's [project]). PrestageFinder.find_distributions answers from here:
- the distribution names of open projects come with `project/list` / `project/open` (`distribution`),
  which the finder already holds, so a lookup of a name no open project provides (every other
  package's `version()`, `entry_points()`'s scan) is answered from memory;
- the dist-info path comes with `spec/resolve` (`dist_info`): an import or reload records it, so after
  `importlib.reload(pkg)` metadata is that of the generation just loaded. A lookup before any import
  asks once, as an import would (read-your-writes: it covers every save made before it)."""
import pathlib
import re
from importlib.metadata import PathDistribution

_SEPARATORS = re.compile(r"[-_.]+")
_KINDS_WITH_METADATA = ("cargo", "cmake", "meson", "setuptools")


def normalize(name):
    """PEP 503: 'My__Pkg.x' -> 'my-pkg-x'."""
    return _SEPARATORS.sub("-", name).lower()


class Distributions:
    """Per finder: project id -> dist-info path of the newest generation this process resolved."""

    def __init__(self):
        self.paths = {}

    def record(self, resolved):
        """Called with every spec/resolve answer the finder gets."""
        if isinstance(resolved, dict) and resolved.get("project"):
            self.paths[resolved["project"]] = resolved.get("dist_info")

    def find(self, name, projects, resolve, loaded):
        """PathDistributions for `name` (None: all) among `projects` (project/list entries).
        `resolve(project)` asks the daemon for a project's newest generation (a spec/resolve answer);
        `loaded(project_id)` says whether this process has imported a module of the project."""
        wanted = None if name is None else normalize(name)
        found = []
        for project in projects:
            project_id = project.get("id")
            if project.get("kind") not in _KINDS_WITH_METADATA:
                continue
            known = project.get("distribution")
            if wanted is not None and known is not None and normalize(known) != wanted:
                continue  # not this project: no round trip
            if wanted is not None and known is None and project_id in self.paths and self.paths[project_id] is None:
                continue  # resolved before: it has no dist-info
            # The generation loaded (consistent with the running code), else the newest; a scan of
            # all distributions asks only for projects it has not seen.
            if project_id not in self.paths or (wanted is not None and not loaded(project_id)):
                try:
                    self.record(resolve(project))
                except ImportError:
                    if wanted is not None and known is not None and project_id not in self.paths:
                        raise  # the build of the distribution asked for failed: say why
                    # A project whose name is not known yet (setup.py's name) may be any other
                    # distribution: its failed build must not fail a lookup of another name.
            path = self.paths.get(project_id)
            if path is None:
                continue
            distribution = PathDistribution(pathlib.Path(path))
            if wanted is None or normalize(distribution.metadata["Name"] or "") == wanted:
                found.append(distribution)
        return found
