"""prestage's setuptools driver, embedded in prestaged (docs/backends/setuptools.md).

Usage: python driver.py ROOT SCRIPT WORK JOBS. Runs the project's setup script (SCRIPT, or
`setup()` alone for a pyproject-only project) as `python setup.py build_ext` would, with cwd =
ROOT, but never writes into ROOT: extensions go to WORK/lib, objects to WORK/tmp, Cython's C files
to WORK/cython. On success it writes WORK/layout.json: what `pip install -e .` makes importable.
A problem it recognises is one stdout line `prestage-setuptools {"error": ..., "file": ..., "line": ...}`.
Standard library only (setuptools, Cython and pybind11 come from the setup script)."""
import json
import os
import shlex
import subprocess
import sys
import sysconfig
import traceback

REPORT = "prestage-setuptools "
DEBIAN_PACKAGES = {"pybind11": "python3-pybind11", "Cython": "cython3", "setuptools": "python3-setuptools",
                   "numpy": "python3-numpy", "setuptools_rust": "python3-setuptools-rust"}
HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx", ".inc", ".pxd", ".pxi")
SKIPPED_DIRS = {"build", "dist", "target", "node_modules", "venv", "__pycache__", "_skbuild"}
CONFIG_FILES = ("setup.py", "setup.cfg", "pyproject.toml")


def fail(message, file=None, line=None):
    print(REPORT + json.dumps({"error": message, "file": file, "line": line}), flush=True)
    sys.exit(1)


def missing_module_message(error):
    name = (error.name or "?").partition(".")[0]
    package = DEBIAN_PACKAGES.get(name)
    hint = f" (Debian: apt install {package})" if package else ""
    return f"the setup script needs the Python module '{name}', which {sys.executable} cannot import: install it{hint}"


def line_in(script, tb):
    """The last line of `script` in a traceback, else None."""
    found = None
    for frame in traceback.extract_tb(tb):
        if frame.filename == script:
            found = frame.lineno
    return found


def project_inputs(root):
    """(headers and config files every extension depends on, whether a .pyx exists). distutils
    rebuilds an extension only when a listed source or depends entry is newer than it."""
    inputs = [os.path.join(root, name) for name in CONFIG_FILES if os.path.isfile(os.path.join(root, name))]
    has_pyx = False
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith(HEADER_SUFFIXES):
                inputs.append(os.path.join(directory, name))
            has_pyx = has_pyx or name.endswith(".pyx")
    return inputs, has_pyx


def is_gcc(compiler):
    words = shlex.split(compiler)
    name = os.path.basename(words[0]) if words else ""
    return ("gcc" in name or "g++" in name) and "clang" not in compiler


def use_json_diagnostics():
    """GCC's JSON diagnostics through CFLAGS, which distutils appends to its compile and link lines,
    and CXXFLAGS, which CMake reads when a script's own build_ext runs it (pybind11's cmake_example)."""
    if is_gcc(os.environ.get("CC") or sysconfig.get_config_var("CC") or ""):
        os.environ["CFLAGS"] = (os.environ.get("CFLAGS", "") + " -fdiagnostics-format=json").strip()
    if is_gcc(os.environ.get("CXX") or sysconfig.get_config_var("CXX") or "g++"):
        os.environ["CXXFLAGS"] = (os.environ.get("CXXFLAGS", "") + " -fdiagnostics-format=json").strip()


def cythonize_into(build_dir):
    """cythonize() writes its C files under `build_dir` unless the script chose a build_dir."""
    try:
        import Cython.Build
        import Cython.Build.Dependencies as dependencies
    except ImportError:
        return  # the setup script's own import reports it
    original = dependencies.cythonize

    def cythonize(module_list, *args, **kwargs):
        kwargs.setdefault("build_dir", build_dir)
        return original(module_list, *args, **kwargs)

    dependencies.cythonize = Cython.Build.cythonize = cythonize


def backport_ext_modules(found):
    """setuptools < 74 refuses `[tool.setuptools] ext-modules` in pyproject.toml: take the list out
    of what it reads (into `found`), so that main() hands the extensions to the Distribution as
    setuptools 74 and later do."""
    import setuptools
    import setuptools.config.pyprojecttoml as pyprojecttoml
    if int(setuptools.__version__.split(".")[0]) >= 74:
        return
    original = pyprojecttoml.load_file

    def load_file(path):
        data = original(path)
        table = data.get("tool", {}).get("setuptools", {})
        if isinstance(table, dict) and "ext-modules" in table:
            found[:] = table.pop("ext-modules")
        return data

    pyprojecttoml.load_file = load_file


def pyproject_extensions(specs, pyproject):
    """Extension objects from the `ext-modules` tables (keys as Extension's arguments, - as _)."""
    from setuptools import Extension
    extensions = []
    for spec in specs:
        arguments = {key.replace("-", "_"): value for key, value in spec.items()}
        if "define_macros" in arguments:
            arguments["define_macros"] = [tuple(macro) for macro in arguments["define_macros"]]
        try:
            extensions.append(Extension(**arguments))
        except TypeError as error:
            fail(f"tool.setuptools.ext-modules: {error}", pyproject)
    return extensions


def drop_outdated(build_ext, extensions, relink_all=False):
    """distutils compares whole-second mtimes, so a source saved in the second its extension was
    linked looks up to date: remove each output older than (or as old as) any of its inputs, in
    nanoseconds (every output when `relink_all`), so that build_ext rebuilds it."""
    for extension in extensions:
        output = build_ext.get_ext_fullpath(extension.name)
        try:
            built = os.stat(output).st_mtime_ns
        except OSError:
            continue
        if relink_all:
            os.remove(output)
            continue
        for source in list(extension.sources) + list(extension.depends):
            try:
                if os.stat(source).st_mtime_ns >= built:
                    os.remove(output)
                    break
            except OSError:
                continue


def drop_outdated_libraries(dist, clib, temp, inputs):
    """build_clib's libraries: setuptools rebuilds one only when a source is newer than its object,
    by distutils' mtime comparison; as for extensions, remove the objects and archive of each library
    whose sources or the project's headers are as new as the archive, in nanoseconds. True when one
    was removed: build_ext links every library into every extension, so all of them relink."""
    from distutils.ccompiler import new_compiler
    compiler = new_compiler()
    dropped = False
    for name, build_info in dist.libraries:
        archive = os.path.join(clib, compiler.library_filename(name))
        try:
            built = os.stat(archive).st_mtime_ns
        except OSError:
            continue
        sources = list(build_info.get("sources") or ())
        if not any(os.stat(path).st_mtime_ns >= built for path in sources + inputs if os.path.exists(path)):
            continue
        for path in [archive] + compiler.object_filenames(sources, output_dir=temp):
            if os.path.exists(path):
                os.remove(path)
        dropped = True
    return dropped


def run_script(core, script, args):
    """Runs the setup script up to its parsed configuration; the Distribution it made."""
    code = "from setuptools import setup\nsetup()\n"
    if script:
        with open(script, "rb") as stream:
            code = stream.read()
    name = script or "setup.py"
    sys.argv = [name] + args
    core._setup_stop_after = "config"
    try:
        exec(compile(code, name, "exec"), {"__file__": name, "__name__": "__main__"})
    except SyntaxError as error:
        fail(f"SyntaxError: {error.msg}", error.filename, error.lineno)
    except ModuleNotFoundError as error:
        traceback.print_exc()
        fail(missing_module_message(error), name, line_in(name, error.__traceback__))
    except SystemExit as exit:
        if exit.code not in (None, 0):
            fail(str(exit.code), name)
    except Exception as error:  # noqa: BLE001: the script's own failure, reported whole
        traceback.print_exc()
        fail(f"{type(error).__name__}: {error}", name, line_in(name, error.__traceback__))
    finally:
        core._setup_stop_after = None
    if core._setup_distribution is None:
        fail("the setup script did not call setup()", name)
    return core._setup_distribution


def python_files(dist):
    """(packages: [destination, source dir] of each outermost package, modules: [destination, file])."""
    build_py = dist.get_command_obj("build_py")
    build_py.ensure_finalized()
    listed = set(dist.packages or ())
    packages = []
    for package in sorted(listed):
        if package.rpartition(".")[0] in listed:
            continue  # staged with its parent's directory, as the editable finder maps it
        packages.append([package.replace(".", "/"), os.path.abspath(build_py.get_package_dir(package))])
    modules = []
    for module in dist.py_modules or ():
        parent, _, leaf = module.rpartition(".")
        source = os.path.join(build_py.get_package_dir(parent), leaf + ".py")
        modules.append([module.replace(".", "/") + ".py", os.path.abspath(source)])
    return packages, modules


# --- setuptools-rust (docs/backends/setuptools.md, "Rust extensions") ---

class CargoJsonSubprocess:
    """Stands in for `subprocess` inside setuptools_rust.build: cargo runs with
    --message-format=json instead of json-render-diagnostics, so rustc's diagnostics arrive as JSON
    compiler-messages; every stdout line is echoed for prestaged as it comes, and the whole output
    is returned as check_output would. cargo's stderr (status lines, its own errors) always goes
    to the driver's stderr, also for a `quiet` extension: it is the build log."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def check_output(self, command, **kwargs):
        command = ["--message-format=json" if arg == "--message-format=json-render-diagnostics" else arg for arg in command]
        kwargs.pop("stderr", None)
        kwargs.pop("text", None)
        kwargs.pop("universal_newlines", None)
        lines = []
        with self._real.Popen(command, stdout=self._real.PIPE, text=True, **kwargs) as process:
            for line in process.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                lines.append(line)
            code = process.wait()
        output = "".join(lines)
        if code:
            raise self._real.CalledProcessError(code, command, output, None)
        return output


def load_pyproject(root):
    path = os.path.join(root, "pyproject.toml")
    if not os.path.isfile(path):
        return {}
    toml = None
    for name in ("tomllib", "tomli", "setuptools.extern.tomli", "setuptools._vendor.tomli"):  # < 3.11: tomli, or setuptools' copy
        try:
            toml = __import__(name, fromlist=["load"])
            break
        except ImportError:
            continue
    if toml is None:
        fail("reading [tool.setuptools-rust] needs tomllib (Python 3.11) or tomli", path)
    with open(path, "rb") as stream:
        return toml.load(stream)


def pyproject_rust_extensions(dist, root):
    """`[tool.setuptools-rust] ext-modules` / `bins` as setuptools-rust 1.7 and later read them
    (keys as RustExtension's arguments, - as _; `binding` and `strip` by name), for an older
    setuptools-rust that ignores them. Nothing when setup.py or setuptools-rust gave the list."""
    table = load_pyproject(root).get("tool", {}).get("setuptools-rust")
    if not isinstance(table, dict) or getattr(dist, "rust_extensions", None):
        return
    pyproject = os.path.join(root, "pyproject.toml")
    try:
        from setuptools_rust import Binding, RustBin, RustExtension, Strip
        from setuptools_rust.setuptools_ext import rust_extensions
    except ModuleNotFoundError as error:
        fail(missing_module_message(error), pyproject)
    made = []
    for key, kind in (("ext-modules", RustExtension), ("bins", RustBin)):
        for spec in table.get(key, ()):
            arguments = {name.replace("-", "_"): value for name, value in spec.items()}
            try:
                if "binding" in arguments:
                    arguments["binding"] = Binding[arguments["binding"]]
                if "strip" in arguments:
                    arguments["strip"] = Strip[arguments["strip"]]
                made.append(kind(**arguments))
            except (TypeError, KeyError, ValueError) as error:
                fail(f"tool.setuptools-rust.{key}: {type(error).__name__}: {error}", pyproject)
    dist.rust_extensions = made
    rust_extensions(dist, "rust_extensions", made)


def importable_rust_extensions(dist):
    """The setup's Rust extension modules, built as an editable install builds them. Binaries
    (`RustBin`, `Binding.Exec`) install scripts outside site-packages: left out, as are a maturin
    project's scripts; they are named in the log."""
    extensions = list(getattr(dist, "rust_extensions", None) or ())
    if not extensions:
        return []
    import setuptools_rust.build as rust_build
    kept = []
    for extension in extensions:
        if extension._uses_exec_binding():
            print(f"prestage: not building the Rust binary {extension.name}: scripts install outside site-packages", flush=True)
        else:
            kept.append(extension)
    dist.rust_extensions = kept
    rust_build.subprocess = CargoJsonSubprocess(rust_build.subprocess)
    original = rust_build.build_rust._is_debug_build

    def is_debug_build(command, extension):
        # an editable install is an in-place build to setuptools-rust: debug unless the extension or
        # the command says otherwise (its outputs still go to WORK/lib: `inplace` itself stays off)
        inplace = command.inplace
        command.inplace = True
        try:
            return original(command, extension)
        finally:
            command.inplace = inplace

    rust_build.build_rust._is_debug_build = is_debug_build
    return kept


def built_rust_extensions(dist, lib):
    """[dotted name, file relative to lib] of each Rust extension build_rust placed (an optional
    one that failed is absent)."""
    build_rust = dist.get_command_obj("build_rust")
    built = []
    for extension in dist.rust_extensions:
        path = build_rust.get_dylib_ext_path(extension, extension.name)
        if os.path.isfile(path):
            built.append([extension.name, os.path.relpath(path, lib)])
        elif not extension.optional:
            fail(f"build_rust did not produce {path} for {extension.name}")
    return built


def main():
    root, script, work, jobs = sys.argv[1:5]
    os.chdir(root)
    sys.path.insert(0, root)  # `python setup.py` puts the script's directory first
    sys.dont_write_bytecode = True  # modules the script imports leave no __pycache__ in the project
    script = os.path.abspath(script) if script else ""
    layout_file = os.path.join(work, "layout.json")
    if os.path.exists(layout_file):
        os.remove(layout_file)
    try:
        import setuptools  # noqa: F401: makes distutils setuptools' own
        import distutils.core as core
    except ModuleNotFoundError as error:
        fail(missing_module_message(error))
    inputs, has_pyx = project_inputs(root)
    use_json_diagnostics()
    if has_pyx:
        cythonize_into(os.path.join(work, "cython"))
    lib = os.path.join(work, "lib")
    args = ["build_ext", "--build-lib", lib, "--build-temp", os.path.join(work, "tmp"), "--parallel", jobs]
    pyproject_specs = []
    if not script:
        backport_ext_modules(pyproject_specs)
    dist = run_script(core, script, args)
    if pyproject_specs and not dist.ext_modules:
        dist.ext_modules = pyproject_extensions(pyproject_specs, os.path.join(root, "pyproject.toml"))
    pyproject_rust_extensions(dist, root)
    try:
        if hasattr(dist, "set_defaults"):
            dist.set_defaults()  # setuptools' package discovery, as its commands run it
        packages, modules = python_files(dist)
    except Exception as error:  # noqa: BLE001: e.g. discovery refusing a flat layout
        fail(f"{type(error).__name__}: {error}", script or os.path.join(root, "pyproject.toml"))
    extensions = list(dist.ext_modules or ())
    rust_extensions = importable_rust_extensions(dist)
    if not extensions and not rust_extensions:
        fail("the setup script declares no ext_modules or rust_extensions: prestage builds projects with extension modules only",
             script or os.path.join(root, "pyproject.toml"))
    archives, relink_all = [], False
    if dist.has_c_libraries():
        # `libraries=[(name, build_info)]`: `setup.py build` (and pip) run build_clib before build_ext,
        # which links them from build_clib's directory; an extension relinks when one was rebuilt.
        clib, temp = os.path.join(work, "clib"), os.path.join(work, "tmp")
        dist.script_args = ["build_clib", "--build-clib", clib, "--build-temp", temp] + args
        archives = [os.path.join(clib, f"lib{library[0]}.a") for library in dist.libraries]
        relink_all = drop_outdated_libraries(dist, clib, temp, inputs)
    for extension in extensions:
        extension.depends = list(extension.depends or ()) + inputs + archives
    if rust_extensions:
        os.environ["CARGO_TARGET_DIR"] = os.path.join(work, "target")  # never target/ in the sources
        os.environ.setdefault("PYO3_BUILD_EXTENSION_MODULE", "1")  # PyO3 >= 0.26: no libpython link (binaries are not built)
        print(f"prestage: cargo builds {len(rust_extensions)} Rust extension module(s) with setuptools-rust", flush=True)
    print(f"prestage: building {len(extensions) + len(rust_extensions)} extension module(s) with {sys.executable}", flush=True)
    try:
        dist.parse_command_line()
        build_ext = dist.get_command_obj("build_ext")
        if hasattr(build_ext, "cython_c_in_temp"):  # Cython's own build_ext: C files out of the tree too
            build_ext.cython_c_in_temp = 1
        build_ext.ensure_finalized()
        drop_outdated(build_ext, extensions, relink_all)
        dist.run_commands()
    except (OSError, core.DistutilsError, core.CCompilerError, subprocess.CalledProcessError) as error:
        # CalledProcessError: a build_ext of the script's own running a tool (cmake) with check=True
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    built = []
    for extension in extensions:
        relpath = build_ext.get_ext_filename(build_ext.get_ext_fullname(extension.name))
        built.append([build_ext.get_ext_fullname(extension.name), relpath])
    if rust_extensions:
        built += built_rust_extensions(dist, lib)
    layout = {"extensions": built, "packages": packages, "modules": modules,
              "name": dist.get_name(), "version": dist.get_version()}
    if "pybind11" in sys.modules:
        layout["pybind11_include"] = sys.modules["pybind11"].get_include()
    with open(layout_file + ".tmp", "w", encoding="utf-8") as stream:
        json.dump(layout, stream)
    os.replace(layout_file + ".tmp", layout_file)


if __name__ == "__main__":
    main()
