"""A real notebook on Debian's ipykernel, executed by nbclient: the next cell sees the new code."""
import os
import uuid

import pytest

from helpers import FIXTURES, PYCLIENT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _cell(source):
    return nbformat.v4.new_code_cell(source)


def _outputs(cell):
    text = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text.append(output["text"])
        elif "data" in output:
            text.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            text.append("\n".join(output.get("traceback", [])))
    return "".join(text)


def test_notebook_reloads_before_next_cell(daemon):
    folder = daemon.workspace / f"nb-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    source = folder / "single_cpp.cpp"
    source.write_text((FIXTURES / "single" / "single_cpp.cpp").read_text())
    project = daemon.open(source)
    daemon.wait_built(project["id"])
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        _cell("%load_ext prestage"),
        _cell(f"import sys\nsys.path.insert(0, {str(folder)!r})\nimport single_cpp\nprint('value', single_cpp.get_num())"),
        _cell(
            "import pathlib, time, prestage\n"
            f"before = [p for p in prestage.status() if p['id'] == {project['id']!r}][0]['last_build']\n"
            f"path = pathlib.Path({str(source)!r})\n"
            "path.write_text(path.read_text().replace('return 10;', 'return 20;'))\n"
            "deadline = time.monotonic() + 600\n"
            "while time.monotonic() < deadline:\n"
            f"    now = [p for p in prestage.status() if p['id'] == {project['id']!r}][0]\n"
            "    if now['state'] == 'idle' and now['last_build'] != before:\n"
            "        break\n"
            "    time.sleep(0.1)\n"
            "print('built', now['last_build']['ok'])"
        ),
        _cell("print('value', single_cpp.get_num())"),
        _cell("%prestage off"),
        _cell("%prestage status"),
    ]
    previous = os.environ.get("PYTHONPATH")
    saved = {key: os.environ.get(key) for key in daemon.env}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(PYCLIENT)] + ([previous] if previous else []))
    os.environ.update(daemon.env)
    try:
        client = nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    outputs = [_outputs(cell) for cell in notebook.cells]
    assert "value 10" in outputs[1], outputs
    assert "built True" in outputs[2], outputs
    assert "prestage: reloaded single_cpp" in outputs[3] and "value 20" in outputs[3], outputs
    assert "is off" in outputs[4]
    assert str(source) in outputs[5]
    daemon.client.call("project/close", {"id": project["id"]})
