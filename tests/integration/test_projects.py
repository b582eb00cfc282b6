"""project/open, project/close, project/list and the persisted registry."""
import os

import pytest

from conftest import CODES, SAMPLE_PROJECTS, _write, make_cargo_pyo3, make_cmake_pybind11, make_cpp_file, make_rust_file
from pipeline_helpers import wait_all_idle


def list_by_id(daemon):
    return {p["id"]: p for p in daemon.rpc("project/list")}


@pytest.mark.parametrize("label", list(SAMPLE_PROJECTS))
def test_open_detects_the_kind_and_modules(daemon, projects_dir, label):
    factory, kind = SAMPLE_PROJECTS[label]
    root, modules = factory(projects_dir)
    opened = daemon.rpc("project/open", {"root": str(root)})
    assert opened["kind"] == kind
    assert opened["modules"] == modules
    assert opened["root"] == os.path.realpath(root)
    listed = list_by_id(daemon)[opened["id"]]
    assert {k: listed[k] for k in ("id", "root", "kind", "modules", "distribution")} == opened
    # No target interpreter was given, so nothing is built: the first round only scans the sources.
    assert listed["generation"] == 0 and listed["state"] in ("idle", "queued", "building") and listed["last_build"] is None


def test_open_is_idempotent(daemon, projects_dir):
    root, _ = make_cargo_pyo3(projects_dir)
    first = daemon.rpc("project/open", {"root": str(root)})
    second = daemon.rpc("project/open", {"root": str(root)})
    third = daemon.rpc("project/open", {"root": str(root) + "/"})
    via_symlink = projects_dir / "link"
    via_symlink.symlink_to(root)
    fourth = daemon.rpc("project/open", {"root": str(via_symlink)})
    assert first == second == third == fourth
    assert len(daemon.rpc("project/list")) == 1


def test_open_python_param_is_accepted(daemon, projects_dir):
    root, _ = make_cpp_file(projects_dir)
    opened = daemon.rpc("project/open", {"root": str(root), "python": "/usr/bin/python3"})
    assert opened["kind"] == "cpp-file"


def test_missing_directory_is_invalid_params(daemon, tmp_path):
    missing = tmp_path / "does-not-exist"
    error = daemon.rpc_error("project/open", {"root": str(missing)})
    assert error["code"] == CODES.invalid_params
    assert "root" in error["message"]
    assert str(missing) in error["message"] or "exist" in error["message"].lower()
    assert daemon.rpc("project/list") == []


@pytest.mark.parametrize("setup", ["empty", "plain-cargo", "plain-cmake", "setuptools-pyproject", "text-file"])
def test_unsupported_project_is_invalid_params(daemon, projects_dir, setup):
    root = projects_dir / setup
    if setup == "empty":
        root.mkdir()
    elif setup == "plain-cargo":
        _write(root / "Cargo.toml", '[package]\nname = "plain"\nversion = "0.1.0"\n\n[dependencies]\nserde = "1"\n')
    elif setup == "plain-cmake":
        _write(root / "CMakeLists.txt", "cmake_minimum_required(VERSION 3.15)\nproject(plain CXX)\nadd_executable(app main.cpp)\n")
    elif setup == "setuptools-pyproject":
        _write(root / "pyproject.toml", '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n')
    else:
        root = _write(projects_dir / "notes.txt", "hello\n")
    error = daemon.rpc_error("project/open", {"root": str(root)})
    assert error["code"] == CODES.invalid_params
    assert error["message"].strip(), "the refusal needs a message"
    assert daemon.rpc("project/list") == []


@pytest.mark.parametrize("broken_file,content", [
    ("Cargo.toml", '[package\nname = "x"\n[dependencies]\npyo3 = "0.17"\n'),
    ("Cargo.toml", '[package]\nname = "x"\nname = "y"\n[dependencies]\npyo3 = "0.17"\n'),
    ("pyproject.toml", '[build-system]\nbuild-backend = "maturin\n'),
    ("pyproject.toml", '[build-system]\nbuild-backend = = "scikit_build_core.build"\n'),
], ids=["cargo-unclosed-table", "cargo-duplicate-key", "pyproject-unclosed-string", "pyproject-double-equals"])
def test_broken_manifest_is_invalid_params_naming_the_file(daemon, projects_dir, broken_file, content):
    root = projects_dir / "broken"
    _write(root / broken_file, content)
    error = daemon.rpc_error("project/open", {"root": str(root)})
    assert error["code"] == CODES.invalid_params
    assert broken_file in error["message"], f"message {error['message']!r} does not name {broken_file}"
    assert daemon.rpc("project/list") == []


def test_close_by_id_and_by_root(daemon, projects_dir):
    cargo_root, _ = make_cargo_pyo3(projects_dir)
    cmake_root, _ = make_cmake_pybind11(projects_dir)
    cargo = daemon.rpc("project/open", {"root": str(cargo_root)})
    cmake = daemon.rpc("project/open", {"root": str(cmake_root)})
    assert daemon.rpc("project/close", {"id": cargo["id"]}) == {"id": cargo["id"], "closed": True}
    assert set(list_by_id(daemon)) == {cmake["id"]}
    assert daemon.rpc("project/close", {"root": str(cmake_root)}) == {"id": cmake["id"], "closed": True}
    assert daemon.rpc("project/list") == []
    assert daemon.rpc_error("project/close", {"id": cargo["id"]})["code"] == CODES.invalid_params


def test_list_shape(daemon, projects_dir):
    opened = [daemon.rpc("project/open", {"root": str(factory(projects_dir)[0])}) for factory, _ in SAMPLE_PROJECTS.values()]
    listed = daemon.rpc("project/list")
    assert sorted(p["id"] for p in listed) == sorted(o["id"] for o in opened)
    assert len({o["id"] for o in opened}) == len(opened), "ids must be distinct"
    for entry in listed:
        assert {"id", "root", "kind", "modules", "generation", "state", "last_build"} <= set(entry)
        assert entry["generation"] == 0 and entry["state"] in ("idle", "queued", "building") and entry["last_build"] is None


# ---------------------------------------------------------------- persistence

def _comparable(listing):
    keys = ("id", "root", "kind", "modules", "generation", "state", "last_build")
    return sorted(({k: p[k] for k in keys} for p in listing), key=lambda p: p["id"])


def _open_three(daemon, projects_dir):
    for root in (make_cargo_pyo3(projects_dir)[0], make_cmake_pybind11(projects_dir)[0], make_rust_file(projects_dir)[0]):
        daemon.rpc("project/open", {"root": str(root)})
    listing = wait_all_idle(daemon)  # "state" is transient while the first scan runs
    assert len(listing) == 3
    return listing


def test_registry_survives_a_clean_restart(start_daemon, projects_dir):
    first = start_daemon()
    listing = _open_three(first, projects_dir)
    assert first.stop() == 0
    second = start_daemon(state_dir=first.state_dir)
    assert _comparable(wait_all_idle(second)) == _comparable(listing)
    assert second.health(token=True).json()["projects"] == 3


def test_registry_survives_kill_9(start_daemon, projects_dir):
    first = start_daemon()
    listing = _open_three(first, projects_dir)
    first.kill9()
    second = start_daemon(state_dir=first.state_dir)
    assert second.pid != first.pid
    assert _comparable(wait_all_idle(second)) == _comparable(listing)


def test_closed_project_stays_closed_after_restart(start_daemon, projects_dir):
    first = start_daemon()
    listing = _open_three(first, projects_dir)
    first.rpc("project/close", {"id": listing[0]["id"]})
    remaining = first.rpc("project/list")
    first.kill9()
    second = start_daemon(state_dir=first.state_dir)
    assert _comparable(wait_all_idle(second)) == _comparable(remaining)
