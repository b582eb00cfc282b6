// Finds a running prestaged through STATE_DIR/server.json.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerJson } from './protocol';

/** The state dir as the daemon resolves it: setting, $PRESTAGE_STATE_DIR, $XDG_RUNTIME_DIR/prestage, ~/.cache/prestage. */
export function resolveStateDir(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (configured && configured.trim()) return expandHome(configured.trim());
  if (env.PRESTAGE_STATE_DIR) return env.PRESTAGE_STATE_DIR;
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'prestage');
  return path.join(os.homedir(), '.cache', 'prestage');
}

export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

export function serverJsonPath(stateDir: string): string {
  return path.join(stateDir, 'server.json');
}

/** Parses server.json; null when absent. Throws with the file name when it is malformed. */
export function readServerJson(stateDir: string): ServerJson | null {
  const file = serverJsonPath(stateDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  const info = parsed as Partial<ServerJson>;
  if (typeof info.port !== 'number' || !Number.isInteger(info.port) || info.port <= 0 || info.port > 65535) {
    throw new Error(`${file} has no valid "port"`);
  }
  if (typeof info.token !== 'string' || info.token.length === 0) {
    throw new Error(`${file} has no "token"`);
  }
  if (typeof info.pid !== 'number') throw new Error(`${file} has no "pid"`);
  return info as ServerJson;
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Health {
  status: string;
  version: string;
  uptime_s: number;
  [key: string]: unknown;
}

/** GET /health; resolves null when nothing healthy answers within timeoutMs. */
export function fetchHealth(port: number, token?: string, timeoutMs = 2000): Promise<Health | null> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const request = http.get({ host: '127.0.0.1', port, path: '/health', headers, timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) return resolve(null);
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Health;
          resolve(body.status === 'ok' ? body : null);
        } catch {
          resolve(null);
        }
      });
      response.on('error', () => resolve(null));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(null));
  });
}

/** server.json of a live, healthy daemon, or null. */
export async function findRunningServer(stateDir: string): Promise<ServerJson | null> {
  const info = readServerJson(stateDir);
  if (!info) return null;
  if (!isProcessAlive(info.pid)) return null;
  return (await fetchHealth(info.port, info.token)) ? info : null;
}
