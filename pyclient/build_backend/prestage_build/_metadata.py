"""The [project] table of pyproject.toml as core metadata (METADATA / PKG-INFO) and entry points.

The version has one source: `project(prestage VERSION x.y.z)` in the top CMakeLists.txt."""
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pyproject.toml's build-system requires tomli there
    import tomli as tomllib

# The [project] keys this backend writes; anything else is refused rather than silently dropped.
_SUPPORTED = {"name", "dynamic", "description", "readme", "requires-python", "license", "classifiers",
              "scripts", "dependencies"}


class Project:
    def __init__(self, source_dir):
        self.source_dir = Path(source_dir)
        project = tomllib.loads((self.source_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        unknown = sorted(set(project) - _SUPPORTED)
        if unknown:
            raise SystemExit(f"prestage_build: pyproject.toml [project] key(s) not supported: {', '.join(unknown)}")
        self.table = project
        self.name = project["name"]
        self.version = cmake_project_version(self.source_dir / "CMakeLists.txt")
        self.scripts = dict(project.get("scripts", {}))

    @property
    def distribution(self):
        """The name as it appears in file names (PEP 427 / PEP 625)."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def dist_info(self):
        return f"{self.distribution}-{self.version}.dist-info"

    def core_metadata(self):
        """Core metadata 2.1 text, for METADATA in the wheel and PKG-INFO in the sdist."""
        p = self.table
        lines = ["Metadata-Version: 2.1", f"Name: {self.name}", f"Version: {self.version}"]
        if "description" in p:
            lines.append(f"Summary: {p['description']}")
        if "requires-python" in p:
            lines.append(f"Requires-Python: {p['requires-python']}")
        if "license" in p:
            lines.append(f"License: {p['license'].get('text', '')}")
        lines += [f"Classifier: {c}" for c in p.get("classifiers", [])]
        lines += [f"Requires-Dist: {requirement}" for requirement in p.get("dependencies", [])]
        body = ""
        if "readme" in p:
            readme = p["readme"] if isinstance(p["readme"], str) else p["readme"]["file"]
            lines.append("Description-Content-Type: text/markdown" if readme.endswith(".md") else
                         "Description-Content-Type: text/plain")
            body = "\n" + (self.source_dir / readme).read_text(encoding="utf-8")
        return "\n".join(lines) + "\n" + body

    def entry_points(self):
        if not self.scripts:
            return ""
        return "[console_scripts]\n" + "".join(f"{name} = {target}\n" for name, target in self.scripts.items())


def cmake_project_version(cmake_lists):
    text = Path(cmake_lists).read_text(encoding="utf-8")
    match = re.search(r"^\s*project\(\s*prestage\s+VERSION\s+([0-9][0-9A-Za-z.]*)", text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"prestage_build: no `project(prestage VERSION x.y.z)` in {cmake_lists}")
    return match.group(1)
