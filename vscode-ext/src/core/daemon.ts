// Starts and stops the prestaged process.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findRunningServer, isProcessAlive, readServerJson } from './discovery';
import type { ServerJson } from './protocol';

export interface StartOptions {
  serverPath: string;
  stateDir: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function daemonLogPath(stateDir: string): string {
  return path.join(stateDir, 'prestaged.log');
}

/**
 * Starts a detached prestaged (it outlives the editor: finders use it too) and waits
 * until its server.json points at a healthy daemon. Output goes to STATE_DIR/prestaged.log.
 */
export async function startDaemon(options: StartOptions): Promise<ServerJson> {
  const { serverPath, stateDir } = options;
  const timeoutMs = options.timeoutMs ?? 20000;
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFile = daemonLogPath(stateDir);
  const logFd = fs.openSync(logFile, 'a', 0o600);
  let exitDescription: string | null = null;
  let spawnError: Error | null = null;
  try {
    const child = spawn(serverPath, ['--state-dir', stateDir], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: options.env ?? process.env,
    });
    child.on('error', (error) => { spawnError = error; });
    child.on('exit', (code, signal) => { exitDescription = signal ? `signal ${signal}` : `exit code ${code}`; });
    child.unref();
  } finally {
    fs.closeSync(logFd);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError) {
      throw new Error(`cannot start prestaged at "${serverPath}": ${(spawnError as Error).message}`);
    }
    try {
      const running = await findRunningServer(stateDir);
      if (running) return running;
    } catch {
      // server.json half-written or stale: keep waiting
    }
    if (exitDescription) {
      // Another daemon may have won the race for this state dir.
      const running = await findRunningServer(stateDir).catch(() => null);
      if (running) return running;
      throw new Error(`prestaged exited during start-up (${exitDescription}); see ${logFile}:\n${tail(logFile)}`);
    }
    await sleep(100);
  }
  throw new Error(`prestaged did not write a healthy ${path.join(stateDir, 'server.json')} within ${timeoutMs} ms; see ${logFile}`);
}

/** Waits until the process is gone; SIGTERM after graceMs, SIGKILL after twice that. */
export async function waitForExit(pid: number, graceMs = 5000): Promise<void> {
  const start = Date.now();
  let signalled = 0;
  while (isProcessAlive(pid)) {
    const elapsed = Date.now() - start;
    if (elapsed > graceMs && signalled === 0) { signalled = 1; safeKill(pid, 'SIGTERM'); }
    if (elapsed > 2 * graceMs && signalled === 1) { signalled = 2; safeKill(pid, 'SIGKILL'); }
    if (elapsed > 3 * graceMs) throw new Error(`prestaged (pid ${pid}) did not exit`);
    await sleep(50);
  }
}

function safeKill(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal); } catch { /* already gone */ }
}

export function currentServerPid(stateDir: string): number | null {
  try {
    return readServerJson(stateDir)?.pid ?? null;
  } catch {
    return null;
  }
}

function tail(file: string, maxChars = 2000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.slice(-maxChars);
  } catch {
    return '';
  }
}
