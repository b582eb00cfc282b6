// Unit tests of finding project roots on real temporary trees, and of opening each root once.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { cargoIsLibraryOrWorkspace, isSkippedDirectoryName, pyprojectDeclaresBuild, tomlTables } from '../core/projectMarkers';
import { findProjectRoots, projectRootsAbove } from '../core/projectRoots';
import { outcomeOfOpenError, RootOpener, type OpenOutcome } from '../core/rootOpener';

const maturin = '[build-system]\nrequires = ["maturin>=1"]\nbuild-backend = "maturin"\n';
const skbuild = '[build-system]\nrequires = ["scikit-build-core"]\nbuild-backend = "scikit_build_core.build"\n';
const ruffOnly = '[tool.ruff]\nline-length = 100\n';
const pyo3Crate = '[package]\nname = "mycrate"\nversion = "0.1.0"\n\n[lib]\ncrate-type = ["cdylib"]\n\n[dependencies]\npyo3 = "0.22"\n';
const cmakeTop = 'cmake_minimum_required(VERSION 3.15)\nproject(ext)\n';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'prestage-roots-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A fresh directory holding files (path → content; a path ending in / is an empty directory). */
function tree(files: Record<string, string>): string {
  const base = fs.mkdtempSync(path.join(scratch, 'tree-'));
  for (const [relative, content] of Object.entries(files)) {
    const target = path.join(base, relative);
    if (relative.endsWith('/')) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
  return base;
}

async function rootsOf(base: string, search?: { maxDepth: number; maxDirectories: number }): Promise<string[]> {
  const found = await findProjectRoots(base, search);
  return found.roots.map((root) => path.relative(base, root) || '.');
}

test('a folder that is a project is the one root', async () => {
  const base = tree({ 'pyproject.toml': skbuild, 'CMakeLists.txt': cmakeTop, 'sub/pyproject.toml': maturin });
  assert.deepEqual(await rootsOf(base), ['.']);
});

test('a monorepo: each project below the root, breadth first and by name', async () => {
  const base = tree({
    'README.md': '# repo\n',
    'rust/mycrate/Cargo.toml': pyo3Crate,
    'rust/mycrate/pyproject.toml': maturin,
    'rust/mycrate/src/lib.rs': '',
    'cpp/ext/pyproject.toml': skbuild,
    'cpp/ext/CMakeLists.txt': cmakeTop,
    'cpp/ext/src/module.cpp': '',
    'docs/index.md': '',
  });
  assert.deepEqual(await rootsOf(base), ['cpp/ext', 'rust/mycrate']);
});

test('a Python package in python/ and in bindings/python/', async () => {
  const base = tree({
    'python/pyproject.toml': '[build-system]\nbuild-backend = "setuptools.build_meta"\n',
    'bindings/python/pyproject.toml': maturin,
    'bindings/python/Cargo.toml': pyo3Crate,
  });
  assert.deepEqual(await rootsOf(base), ['python', 'bindings/python']);
});

test('a maturin root owns its rust/ crate; a cargo workspace owns its members', async () => {
  const maturinRoot = tree({
    'pyproject.toml': `${maturin}\n[tool.maturin]\nmanifest-path = "rust/Cargo.toml"\npython-source = "python"\n`,
    'rust/Cargo.toml': pyo3Crate,
    'python/pkg/__init__.py': '',
  });
  assert.deepEqual(await rootsOf(maturinRoot), ['.']);
  const workspace = tree({
    'Cargo.toml': '[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n',
    'crates/core/Cargo.toml': '[package]\nname = "core"\n\n[lib]\n',
    'crates/ext/Cargo.toml': pyo3Crate,
    'crates/ext/pyproject.toml': maturin,
  });
  assert.deepEqual(await rootsOf(workspace), ['.']);
  const below = tree({ 'native/Cargo.toml': '[workspace]\nmembers = ["a"]\n', 'native/a/Cargo.toml': pyo3Crate });
  assert.deepEqual(await rootsOf(below), ['native']);
});

test('a tooling-only pyproject is a root only with a build file beside it', async () => {
  const base = tree({
    'pyproject.toml': ruffOnly,
    'pkg/pyproject.toml': '[tool.scikit-build]\nwheel.packages = ["pkg"]\n',
    'legacy/pyproject.toml': ruffOnly,
    'legacy/setup.py': 'from setuptools import setup\nsetup()\n',
    'mesonpkg/pyproject.toml': ruffOnly,
    'mesonpkg/meson.build': "project('m', 'c')\n",
    'lonely/meson.build': "project('x', 'c')\n",
    'tools/pyproject.toml': ruffOnly,
    'tools/lint/pyproject.toml': '[tool.black]\n',
  });
  assert.deepEqual(await rootsOf(base), ['legacy', 'mesonpkg', 'pkg']);
});

test('Cargo.toml needs [lib], [workspace] or pyo3; CMakeLists.txt only at a top', async () => {
  const base = tree({
    'cli/Cargo.toml': '[package]\nname = "cli"\n\n[[bin]]\nname = "cli"\n',
    'implicit/Cargo.toml': '[package]\nname = "implicit"\n\n[dependencies]\npyo3 = { version = "0.22" }\n',
    'cmake/CMakeLists.txt': cmakeTop,
    'cmake/src/CMakeLists.txt': 'add_library(x x.cpp)\n',
  });
  assert.deepEqual(await rootsOf(base), ['cmake', 'implicit']);
  // A folder that is a CMake subdirectory is not a root, nor are its own subdirectories.
  const project = tree({ 'CMakeLists.txt': cmakeTop, 'src/CMakeLists.txt': '', 'src/inner/CMakeLists.txt': '' });
  assert.deepEqual(await rootsOf(path.join(project, 'src')), []);
});

test('skipped directories, environments and symlinks are not searched', async () => {
  const base = tree({
    '.git/pyproject.toml': skbuild,
    '.hidden/pyproject.toml': skbuild,
    'node_modules/pkg/pyproject.toml': skbuild,
    'target/debug/Cargo.toml': pyo3Crate,
    'build/CMakeLists.txt': cmakeTop,
    'build-release/CMakeLists.txt': cmakeTop,
    'cmake-build-debug/CMakeLists.txt': cmakeTop,
    'dist/pyproject.toml': skbuild,
    '__pycache__/setup.py': '',
    '.venv/lib/pkg/setup.py': '',
    'venv/lib/pkg/setup.py': '',
    'py311/pyvenv.cfg': 'home = /usr/bin\n',
    'py311/lib/pkg/setup.py': '',
    'conda/conda-meta/': '',
    'conda/pkg/setup.py': '',
    'extern/pybind11/pyproject.toml': skbuild,
    'third_party/lib/CMakeLists.txt': cmakeTop,
    'builders/ext/pyproject.toml': skbuild,
  });
  fs.symlinkSync(path.join(base, 'builders'), path.join(base, 'linked'));
  assert.deepEqual(await rootsOf(base), ['builders/ext']);
  for (const name of ['.git', 'node_modules', 'target', 'build', 'build_py311', '_build', 'dist', 'venv', 'extern']) {
    assert.equal(isSkippedDirectoryName(name), true, name);
  }
  for (const name of ['builders', 'buildtools', 'src', 'python', 'rust']) assert.equal(isSkippedDirectoryName(name), false, name);
});

test('the depth bound: 0 is the folder only, 4 by default', async () => {
  const base = tree({ 'a/b/c/d/pyproject.toml': skbuild, 'a/b/c/d/e/x/': '', 'p/q/r/s/t/pyproject.toml': skbuild });
  assert.deepEqual(await rootsOf(base), ['a/b/c/d']);
  assert.deepEqual(await rootsOf(base, { maxDepth: 5, maxDirectories: 2000 }), ['a/b/c/d', 'p/q/r/s/t']);
  assert.deepEqual(await rootsOf(base, { maxDepth: 3, maxDirectories: 2000 }), []);
  assert.deepEqual(await rootsOf(base, { maxDepth: 0, maxDirectories: 2000 }), []);
  assert.deepEqual(await rootsOf(path.join(base, 'a/b/c/d'), { maxDepth: 0, maxDirectories: 2000 }), ['.']);
});

test('the directory bound stops the walk and says so', async () => {
  const files: Record<string, string> = { 'zz/pyproject.toml': skbuild };
  for (let index = 0; index < 30; index += 1) files[`d${String(index).padStart(2, '0')}/`] = '';
  const base = tree(files);
  const cut = await findProjectRoots(base, { maxDepth: 4, maxDirectories: 10 });
  assert.deepEqual(cut, { roots: [], truncated: true });
  const whole = await findProjectRoots(base, { maxDepth: 4, maxDirectories: 32 });
  assert.deepEqual(whole, { roots: [path.join(base, 'zz')], truncated: false });
});

test('roots above a file: nearest first, up to the folder, none from skipped places', async () => {
  const base = tree({
    'Cargo.toml': '[package]\nname = "core"\n\n[lib]\n',
    'bindings/python/Cargo.toml': pyo3Crate,
    'bindings/python/pyproject.toml': maturin,
    'bindings/python/src/lib.rs': '',
    'node_modules/pkg/pyproject.toml': skbuild,
    'node_modules/pkg/a.cpp': '',
    'env/pyvenv.cfg': '',
    'env/lib/pkg/setup.py': '',
    'env/lib/pkg/a.cpp': '',
    'docs/readme.md': '',
  });
  const above = (file: string, folder = base) => projectRootsAbove(path.join(base, file), folder)
    .then((roots) => roots.map((root) => path.relative(base, root) || '.'));
  assert.deepEqual(await above('bindings/python/src/lib.rs'), ['bindings/python', '.']);
  assert.deepEqual(await above('bindings/python/src/lib.rs', path.join(base, 'bindings')), ['bindings/python']);
  assert.deepEqual(await above('docs/readme.md'), ['.']);
  assert.deepEqual(await above('node_modules/pkg/a.cpp'), []);
  assert.deepEqual(await above('env/lib/pkg/a.cpp'), []);
  assert.deepEqual(await above('docs/readme.md', path.join(base, 'bindings')), [], 'outside the folder');
});

test('marker rules read TOML tables and keys, not comments or values', () => {
  assert.deepEqual(tomlTables('[a]\n [ "b" . c ] # x\n[[tool.scikit-build.overrides]]\nx = "[nope]"\n'), ['a', 'b.c', 'tool.scikit-build.overrides']);
  assert.equal(pyprojectDeclaresBuild(maturin), true);
  assert.equal(pyprojectDeclaresBuild('[tool.maturin]\nfeatures = []\n'), true);
  assert.equal(pyprojectDeclaresBuild('[tool.scikit-build.cmake]\nversion = ">=3.15"\n'), true);
  assert.equal(pyprojectDeclaresBuild('[project]\nname = "x"\n# build-backend = "maturin"\n[tool.maturin-extra]\n'), false);
  assert.equal(pyprojectDeclaresBuild(ruffOnly), false);
  assert.equal(cargoIsLibraryOrWorkspace('[workspace]\nmembers = []\n'), true);
  assert.equal(cargoIsLibraryOrWorkspace('[package]\n[dependencies.pyo3]\nversion = "0.22"\n'), true);
  assert.equal(cargoIsLibraryOrWorkspace('[package]\n[dependencies]\npyo3-build-config = "0.22"\n'), false);
  assert.equal(cargoIsLibraryOrWorkspace('[package]\nname = "bin"\n'), false);
});

test('RootOpener opens a root once, remembers refusals, retries failures', async () => {
  const calls: string[] = [];
  const answers = new Map<string, OpenOutcome[]>([['/ok', ['opened']], ['/no', ['refused']], ['/flaky', ['failed', 'opened']]]);
  const opener = new RootOpener(async (root) => {
    calls.push(root);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return answers.get(root)!.shift()!;
  });
  assert.deepEqual(await Promise.all([opener.open('/ok'), opener.open('/ok')]), ['opened', 'opened']);
  assert.equal(await opener.open('/ok'), 'opened');
  assert.equal(await opener.open('/no'), 'refused');
  assert.equal(await opener.open('/no'), 'refused');
  assert.equal(await opener.open('/flaky'), 'failed');
  assert.equal(await opener.open('/flaky'), 'opened');
  assert.deepEqual(calls, ['/ok', '/no', '/flaky', '/flaky']);
  opener.clear();
  assert.equal(opener.outcome('/no'), undefined);

  const thrower = new RootOpener(async () => { throw new Error('socket closed'); });
  assert.equal(await thrower.open('/x'), 'failed');
});

test('RootOpener.openFirst passes refused roots and stops at a failure', async () => {
  const outcomes: Record<string, OpenOutcome> = { '/w/inner': 'refused', '/w': 'opened', '/v/inner': 'failed', '/v': 'opened' };
  const asked: string[] = [];
  const opener = new RootOpener(async (root) => { asked.push(root); return outcomes[root]; });
  assert.equal(await opener.openFirst(['/w/inner', '/w']), '/w');
  assert.equal(await opener.openFirst(['/v/inner', '/v']), undefined);
  assert.equal(await opener.openFirst([]), undefined);
  assert.deepEqual(asked, ['/w/inner', '/w', '/v/inner']);
});

test('a project/open error is a refusal only when the daemon answers invalid params', () => {
  assert.equal(outcomeOfOpenError(new ResponseError(-32602, 'params.root: not a Python project')), 'refused');
  assert.equal(outcomeOfOpenError(new ResponseError(-32097, 'pending response rejected')), 'failed');
  assert.equal(outcomeOfOpenError(new ResponseError(-32603, 'internal error')), 'failed');
  assert.equal(outcomeOfOpenError(new Error('not connected to prestaged (request project/open)')), 'failed');
});
