// The rules that say which directory is a project root and which directories a search skips.
// Every rule reads names and the first few KB of a file: never a whole tree, never a TOML parser.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

const headBytes = 8192;

/** Directory names a search never enters: VCS data, build output, dependencies, vendored code. */
const skippedNames = new Set([
  '.git', 'node_modules', 'target', 'dist', '__pycache__', '.venv', 'venv',
  // Vendored sources (a pybind11 submodule is itself a scikit-build-core project): not the user's.
  'third_party', '3rdparty', 'vendor', 'extern', 'external', 'subprojects',
]);

export function isSkippedDirectoryName(name: string): boolean {
  if (name.startsWith('.')) return true; // hidden: .git, .tox, .mypy_cache, .idea ...
  // build, build-release, build_py311, _build, cmake-build-debug (but not builders/).
  if (/^(_?build|cmake-build)([-_.]|$)/.test(name)) return true;
  return skippedNames.has(name);
}

/** A Python environment (venv or conda) holds installed packages, never the user's projects. */
export function isEnvironment(names: ReadonlySet<string>): boolean {
  return names.has('pyvenv.cfg') || names.has('conda-meta');
}

/** The first bytes of a file as text; '' when it cannot be read. */
async function readHead(file: string): Promise<string> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'r');
    const buffer = Buffer.alloc(headBytes);
    const { bytesRead } = await handle.read(buffer, 0, headBytes, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } catch {
    return '';
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Names of the TOML tables (`[a.b]`, `[[a.b]]`) in text, without quotes or spaces. */
export function tomlTables(text: string): string[] {
  const tables: string[] = [];
  for (const match of text.matchAll(/^[ \t]*\[\[?([^\]\n]+)\]\]?[ \t]*(#.*)?$/gm)) {
    tables.push(match[1].replace(/["'\s]/g, ''));
  }
  return tables;
}

/** pyproject.toml that builds something: a PEP 517 backend, or maturin's or scikit-build's table. */
export function pyprojectDeclaresBuild(text: string): boolean {
  if (/^[ \t]*build-backend[ \t]*=/m.test(text)) return true;
  return tomlTables(text).some((table) => /^tool\.(maturin|scikit-build)(\.|$)/.test(table));
}

/** Cargo.toml of a library, a workspace (it owns its members) or a PyO3 crate. */
export function cargoIsLibraryOrWorkspace(text: string): boolean {
  const tables = tomlTables(text);
  if (tables.some((table) => table === 'lib' || table === 'workspace')) return true;
  // The daemon's own test: a pyo3 dependency (`pyo3 = ...`, `pyo3.workspace = true`, `[dependencies.pyo3]`).
  return /^[ \t]*pyo3([ \t]*=|\.)/m.test(text) || tables.some((table) => table.endsWith('dependencies.pyo3'));
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

/**
 * Whether dir is a project root. names: the entries of dir (read when not given).
 * - pyproject.toml that declares a build (pyprojectDeclaresBuild); a tooling-only one (say, just
 *   [tool.ruff]) only with setup.py, CMakeLists.txt, Cargo.toml or meson.build beside it;
 * - Cargo.toml with [lib] or [workspace] (or a pyo3 dependency);
 * - CMakeLists.txt at a top: not when the parent has one too (that is a CMake subdirectory);
 * - setup.py. (meson.build counts only beside a pyproject.toml, above.)
 */
export async function isProjectRoot(dir: string, names?: ReadonlySet<string>): Promise<boolean> {
  const entries = names ?? new Set(await fs.readdir(dir).catch(() => [] as string[]));
  if (entries.has('setup.py')) return true;
  if (entries.has('pyproject.toml')) {
    if (['CMakeLists.txt', 'Cargo.toml', 'meson.build'].some((name) => entries.has(name))) return true;
    if (pyprojectDeclaresBuild(await readHead(path.join(dir, 'pyproject.toml')))) return true;
  }
  if (entries.has('Cargo.toml') && cargoIsLibraryOrWorkspace(await readHead(path.join(dir, 'Cargo.toml')))) return true;
  if (entries.has('CMakeLists.txt')) {
    const parent = path.dirname(dir);
    if (parent === dir || !(await exists(path.join(parent, 'CMakeLists.txt')))) return true;
  }
  return false;
}
