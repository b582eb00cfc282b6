// Finds the project roots under a workspace folder (breadth first, bounded) and above a file.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isEnvironment, isProjectRoot, isSkippedDirectoryName } from './projectMarkers';

export interface RootSearch {
  /** How many levels below the folder are looked at; 0: the folder itself only. */
  maxDepth: number;
  /** How many directories are read at most, the folder included. */
  maxDirectories: number;
}

export const defaultRootSearch: RootSearch = { maxDepth: 4, maxDirectories: 2000 };

export interface FoundRoots {
  /** Breadth first, by name within a directory. */
  roots: string[];
  /** The directory budget ran out before the walk was over. */
  truncated: boolean;
}

async function entriesOf(dir: string): Promise<{ names: Set<string>; directories: string[] }> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  // Symlinked directories are not followed: no cycles, no trees from elsewhere on disk.
  const directories = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  return { names: new Set(entries.map((entry) => entry.name)), directories };
}

/**
 * The folder when it is a project root; else the roots below it, breadth first. A root's subtree
 * belongs to it (a maturin project's rust/, a cargo workspace's members), so the walk does not
 * enter a root; nor skipped directories (isSkippedDirectoryName) or Python environments.
 */
export async function findProjectRoots(folder: string, search: RootSearch = defaultRootSearch): Promise<FoundRoots> {
  const roots: string[] = [];
  const queue: Array<{ dir: string; depth: number }> = [{ dir: path.resolve(folder), depth: 0 }];
  let read = 0;
  for (let next = 0; next < queue.length; next += 1) {
    if (read >= search.maxDirectories) return { roots, truncated: true };
    const { dir, depth } = queue[next];
    read += 1;
    const { names, directories } = await entriesOf(dir);
    if (isEnvironment(names)) continue;
    if (await isProjectRoot(dir, names)) {
      roots.push(dir);
      continue;
    }
    if (depth >= search.maxDepth) continue;
    for (const name of directories) {
      if (!isSkippedDirectoryName(name)) queue.push({ dir: path.join(dir, name), depth: depth + 1 });
    }
  }
  return { roots, truncated: false };
}

/**
 * The project roots that may own file, nearest first: its directory and each parent up to folder
 * (included). None when file is outside folder or sits in a skipped directory or an environment.
 */
export async function projectRootsAbove(file: string, folder: string): Promise<string[]> {
  const top = path.resolve(folder);
  const relative = path.relative(top, path.dirname(path.resolve(file)));
  if (relative.startsWith('..') || path.isAbsolute(relative)) return [];
  const parts = relative ? relative.split(path.sep) : [];
  if (parts.some(isSkippedDirectoryName)) return [];
  const roots: string[] = [];
  for (let count = parts.length; count >= 0; count -= 1) {
    const dir = path.join(top, ...parts.slice(0, count));
    const { names } = await entriesOf(dir);
    if (isEnvironment(names)) return [];
    if (await isProjectRoot(dir, names)) roots.push(dir);
  }
  return roots;
}
