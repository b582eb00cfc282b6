"""`%load_ext prestage`: reloads managed modules with a newer generation before each cell."""
import importlib
import sys
import time

import prestage
from prestage._progress import BuildProgressReporter

_PROGRESS_AFTER_S = 1.0  # as an import: a build shorter than this shows nothing

_controller = None


class NotebookReloader:
    def __init__(self, ipython):
        self.ipython = ipython
        self.enabled = True
        self._reported = {}  # module name -> the failed build last reported for it

    def pre_run_cell(self, *args, **kwargs):
        if not self.enabled:
            return
        finder = prestage.finder()
        if finder is None:
            return
        loaded = finder.managed_loaded_modules()
        if not loaded:
            return
        requested = set(finder.pending_reload_projects)
        finder.pending_reload_projects.difference_update(requested)
        try:
            # Every save made before this cell is built (or found unchanged) before the cell runs.
            projects = self._sync_showing_progress(loaded, finder.wait_timeout)
        except (prestage.PrestageError, TimeoutError) as error:
            print(f"prestage: not reloading: {error}", file=sys.stderr)
            return
        newest = {project["id"]: project for project in projects}
        for name, project_id in sorted(loaded.items()):
            project = newest.get(project_id) or {}
            self._report_failure(name, project)
            generation = project.get("generation")
            current = finder.state.generation_by_module.get(name)
            newer = generation is not None and current is not None and generation > current
            if not (newer or project_id in requested):
                continue
            try:
                importlib.reload(sys.modules[name])
            except prestage.BuildError as error:
                print(str(error), file=sys.stderr)
                continue
            except Exception as error:  # noqa: BLE001 - a failed reload must not block the cell
                print(f"prestage: reloading {name} failed: {error!r}", file=sys.stderr)
                continue
            print(f"prestage: reloaded {name} (generation {finder.state.generation_by_module.get(name)})")

    @staticmethod
    def _sync_showing_progress(loaded, timeout):
        """prestage.sync of the loaded modules' projects; past its first second, an updating display
        of the build's progress (project/list's `progress`) while it waits in short slices."""
        ids = sorted(set(loaded.values()))
        deadline = time.monotonic() + timeout
        try:
            return prestage.sync(ids, timeout=min(_PROGRESS_AFTER_S, timeout))
        except TimeoutError:
            pass
        names = sorted(name for name, project in loaded.items() if project in ids)
        reporter = BuildProgressReporter(", ".join(names))
        try:
            while True:
                building = [p.get("progress") for p in prestage.status() if p.get("id") in ids and p.get("progress")]
                reporter.update(building[0] if building else None)
                try:
                    return prestage.sync(ids, timeout=max(min(deadline - time.monotonic(), reporter.slice_s), 0.0))
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"still building after {timeout:g} s: {', '.join(names)}") from None
        finally:
            reporter.close()

    def _report_failure(self, name, project):
        """Says once per failed build that the cell runs the previous generation."""
        last = project.get("last_build") or {}
        if last.get("ok") is not False:
            self._reported.pop(name, None)
            return
        key = repr(last.get("diagnostics"))
        if self._reported.get(name) == key:
            return
        self._reported[name] = key
        error = prestage.BuildError.from_rpc_data(name, last)
        print(f"{error}\nprestage: {name} keeps running generation {project.get('generation')}", file=sys.stderr)

    def magic(self, line):
        """%prestage on|off|status"""
        command = line.strip() or "status"
        if command == "on":
            self.enabled = True
            print("prestage: reloading before each cell is on")
        elif command == "off":
            self.enabled = False
            print("prestage: reloading before each cell is off")
        elif command == "status":
            state = "on" if self.enabled else "off"
            print(f"prestage: reloading before each cell is {state}")
            for project in prestage.status():
                last = project.get("last_build") or {}
                print(
                    f"  {project.get('root')} [{project.get('kind')}] {project.get('state')}, "
                    f"generation {project.get('generation')}, last build ok={last.get('ok')}"
                )
        else:
            print(f"prestage: unknown argument {command!r}; use %prestage on|off|status", file=sys.stderr)


def load(ipython):
    global _controller
    if _controller is not None:
        return
    prestage.install()
    _controller = NotebookReloader(ipython)
    ipython.events.register("pre_run_cell", _controller.pre_run_cell)
    ipython.register_magic_function(_controller.magic, magic_kind="line", magic_name="prestage")


def unload(ipython):
    global _controller
    if _controller is None:
        return
    try:
        ipython.events.unregister("pre_run_cell", _controller.pre_run_cell)
    except ValueError:
        pass
    _controller = None
    prestage.uninstall()
