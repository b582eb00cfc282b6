"""An import that waits for a build shows its progress (pyclient/prestage/_progress.py): a line per
new fraction when stderr is not a terminal, one line updated in place on a terminal, an updating
display in a Jupyter kernel."""
import io
import re
import uuid

import pytest

from helpers import FIXTURES, PYCLIENT, copy_tree, run_python

FRACTION_LINE = re.compile(r"^prestage: building cmake_pkg \[(\d+)/(\d+)\] ")


def test_an_import_waiting_for_a_cmake_build_prints_its_fractions(daemon):
    root = copy_tree(FIXTURES / "cmake_pkg", daemon.workspace / uuid.uuid4().hex[:8] / "cmake_pkg")
    # One ninja job: the two compiles and two links end seconds apart, past the 1 s line limit.
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'build.tool-args = ["-j1"]\n')
    try:
        result = run_python("import prestage\nprestage.install()\nimport cmake_pkg._core as core\nprint('value', core.get_num())\n",
                            env=daemon.env, cwd=root, timeout=600)
    finally:  # opened by the client from its cwd: later tests must not find a second cmake_pkg
        daemon.client.call("project/close", {"root": str(root)})
    assert "value 10" in result.stdout
    fractions = [tuple(map(int, m.groups())) for m in map(FRACTION_LINE.match, result.stderr.splitlines()) if m]
    assert len(set(fractions)) >= 2, result.stderr
    assert len(fractions) == len(set(fractions)), "a line only when the fraction changes"
    assert all(done <= total for done, total in fractions)
    assert fractions == sorted(fractions, key=lambda f: f[0] / f[1]), fractions
    assert result.stderr.count("prestage: waiting for the build providing 'cmake_pkg'") == 1
    assert "\r" not in result.stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_one_line_is_updated_in_place_truncated_and_cleared(monkeypatch):
    import sys

    monkeypatch.syspath_prepend(str(PYCLIENT))
    from prestage._progress import BuildProgressReporter

    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    screen = _Terminal()
    reporter = BuildProgressReporter("pkg", stream=screen)
    reporter.update(None)
    reporter.update({"message": "[1/4] Building CXX object CMakeFiles/_core.dir/src/core.cpp.o", "done": 1, "total": 4})
    reporter.update({"message": "Compiling pyo3 v0.17.3", "done": 2, "total": 4})
    reporter.close()
    frames = screen.getvalue().split("\r")[1:]
    assert "\n" not in screen.getvalue()
    assert frames[0] == "prestage: waiting for the build providi"
    assert frames[1].rstrip() == "prestage: building pkg [1/4] Building C"  # 39 columns
    assert frames[2].rstrip() == "prestage: building pkg [2/4] Compiling"
    assert frames[-1] == "" and frames[-2].strip() == "", "cleared at the end"


def test_in_a_jupyter_kernel_the_progress_is_one_updating_display():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        f"import sys\nsys.path.insert(0, {str(PYCLIENT)!r})\n"
        "from prestage._progress import BuildProgressReporter\n"
        "r = BuildProgressReporter('pkg')\n"
        "r.update({'message': '[1/4] Building CXX object a.o', 'done': 1, 'total': 4})\n"
        "r.update({'message': '[3/4] Linking CXX shared module _core.so', 'done': 3, 'total': 4})\n"
    )]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert [o["output_type"] for o in outputs] == ["display_data"], outputs  # updated, not appended
    assert outputs[0]["data"]["text/plain"] == "prestage: building pkg [3/4] Linking CXX shared module _core.so"
    assert '<progress value="3" max="4">' in outputs[0]["data"]["text/html"]
