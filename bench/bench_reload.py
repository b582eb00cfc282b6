"""Reload latency of prestage._reload on hand-built generations (no daemon, no RPC).

  changed reload of a package (cmake_pkg, _core rebuilt) vs a bare import of the same .so from a
  fresh path: goal <= 1.2x.  Unchanged reload: goal <= 1 ms.  Single-file changed reload likewise.
Usage: /usr/bin/python3 bench/bench_reload.py   (compiles the extensions with g++ first, ~1 min)
The daemon round trip for spec/resolve comes on top; bench it with a running daemon via
`python -m timeit` on prestage.connect().call("spec/resolve", ...)."""
import hashlib
import importlib
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "pyclient"))
sys.path.insert(0, str(REPO / "tests" / "pyclient"))
from prestage import _reload  # noqa: E402
from gen_harness import GenerationFinder  # noqa: E402

SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
FIXTURES = REPO / "tests" / "fixtures"
ROUNDS = 12


def compile_module(source_text, output, work):
    source = work / (output.stem.split(".")[0] + "_" + hashlib.sha1(source_text.encode()).hexdigest()[:8] + ".cpp")
    source.write_text(source_text)
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-std=c++17", f"-I{sysconfig.get_paths()['include']}",
                    str(source), "-o", str(output)], check=True)
    return output


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def package_generation(root, number, core_so, sub_so):
    entry = root / f"gen-{number}"
    package = entry / "cmake_pkg"
    shutil.copytree(FIXTURES / "cmake_pkg" / "src" / "cmake_pkg", package)
    core, sub = package / f"_core{SUFFIX}", package / "subpkg" / f"_sub{SUFFIX}"
    shutil.copyfile(core_so, core)
    shutil.copyfile(sub_so, sub)
    return {"project": "bench", "generation": number, "origin": str(package / "__init__.py"),
            "submodule_search_locations": [str(package)], "path_entry": str(entry),
            "artifacts": [{"module": "cmake_pkg._core", "path": str(core), "sha256": sha(core)},
                          {"module": "cmake_pkg.subpkg._sub", "path": str(sub), "sha256": sha(sub)}]}


def single_generation(root, number, so):
    entry = root / f"single-{number}"
    entry.mkdir()
    target = entry / f"single_cpp{SUFFIX}"
    shutil.copyfile(so, target)
    return {"project": "bench1", "generation": number, "origin": str(target), "submodule_search_locations": None,
            "path_entry": str(entry), "artifacts": [{"module": "single_cpp", "path": str(target), "sha256": sha(target)}]}


def fresh_copies(so, root, label, count):
    paths = []
    for index in range(count):
        directory = root / f"{label}-{index}"
        directory.mkdir()
        paths.append(shutil.copyfile(so, directory / so.name))
    return paths


def main():
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        work = root / "src"
        work.mkdir()
        core = (FIXTURES / "cmake_pkg" / "src" / "core.cpp").read_text()
        core = core.replace("namespace {", "namespace impl {", 1).replace("}  // namespace", "}\nusing namespace impl;", 1)
        single = (FIXTURES / "single" / "single_cpp.cpp").read_text()
        print("compiling extensions...", file=sys.stderr)
        core_a = compile_module(core, work / f"_core_a{SUFFIX}", work)
        core_b = compile_module(core.replace("return 10;", "return 20;"), work / f"_core_b{SUFFIX}", work)
        sub = compile_module((FIXTURES / "cmake_pkg" / "src" / "sub.cpp").read_text(), work / f"_sub{SUFFIX}", work)
        single_a = compile_module(single, work / f"single_a{SUFFIX}", work)
        single_b = compile_module(single.replace("return 10;", "return 20;"), work / f"single_b{SUFFIX}", work)
        helper = compile_module((REPO / "pyclient" / "native" / "prestage_pybind11.cpp").read_text(),
                                work / f"_prestage_pybind11{SUFFIX}", work)

        generations = [package_generation(root, n, core_a if n % 2 == 0 else core_b, sub) for n in range(ROUNDS + 1)]
        singles = [single_generation(root, n, single_a if n % 2 == 0 else single_b) for n in range(ROUNDS + 1)]
        bare_core = fresh_copies(core_b, root, "bare-core", ROUNDS)
        bare_single = fresh_copies(single_b, root, "bare-single", ROUNDS)

        finder = GenerationFinder(helper_path=str(helper))
        sys.meta_path.insert(0, finder)
        finder.serve("cmake_pkg", generations[0])
        finder.serve("single_cpp", singles[0])
        import cmake_pkg
        import single_cpp

        def timed(action):
            start = time.perf_counter()
            action()
            return (time.perf_counter() - start) * 1e3

        changed, unchanged, single_changed, bare, bare_s = [], [], [], [], []
        release = finder.state.pybind11_helper(str(helper)).release_module_types
        for index in range(1, ROUNDS + 1):
            finder.serve("cmake_pkg", generations[index])
            changed.append(timed(lambda: importlib.reload(cmake_pkg)))
            assert cmake_pkg.get_num() == (20 if index % 2 else 10)
            unchanged.append(timed(lambda: importlib.reload(cmake_pkg)))
            finder.serve("single_cpp", singles[index])
            single_changed.append(timed(lambda: importlib.reload(single_cpp)))
            assert single_cpp.get_num() == (20 if index % 2 else 10)
            # bare import in this process too; pybind11 registrations are released outside the timing
            release(sys.modules["cmake_pkg._core"])
            holder = {}
            bare.append(timed(lambda: holder.update(m=_reload.load_extension_copy("bench_bare._core", str(bare_core[index - 1])))))
            release(holder["m"])
            bare_s.append(timed(lambda: _reload.load_extension_copy("bench_bare.single_cpp", str(bare_single[index - 1]))))
        sys.meta_path.remove(finder)

    def med(values):
        return statistics.median(values)

    print(f"package changed reload: {med(changed):.3f} ms; bare import of the same .so: {med(bare):.3f} ms "
          f"-> {med(changed) / med(bare):.2f}x (goal <= 1.2x)")
    print(f"package unchanged reload: {med(unchanged):.3f} ms (goal <= 1 ms)")
    print(f"single-file changed reload: {med(single_changed):.3f} ms; bare import: {med(bare_s):.3f} ms "
          f"-> {med(single_changed) / med(bare_s):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
