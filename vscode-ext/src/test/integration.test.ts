// The client logic against the real prestaged and real builds (single-file pybind11 fixture).
// Daemon: $PRESTAGE_SERVER, else <repo>/build/server/app/prestaged.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { createMessageConnection } from 'vscode-jsonrpc';
import { PrestageClient } from '../core/client';
import { groupByFile, projectDirectory } from '../core/diagnostics';
import { findRunningServer, isProcessAlive, readServerJson } from '../core/discovery';
import { waitForExit } from '../core/daemon';
import { findProjectRoots, projectRootsAbove } from '../core/projectRoots';
import type { BuildFinishedParams, LastBuild, OpenedProject, ReloadRequestedParams } from '../core/protocol';
import { outcomeOfOpenError, RootOpener } from '../core/rootOpener';
import { ProjectTracker } from '../core/state';
import { openRpcSocket, WebSocketMessageReader, WebSocketMessageWriter } from '../core/wsTransport';

const repoRoot = path.resolve(__dirname, '../../..');
const serverPath = process.env.PRESTAGE_SERVER || path.join(repoRoot, 'build/server/app/prestaged');
const python = process.env.PRESTAGE_PYTHON || '/usr/bin/python3';
const fixture = path.join(repoRoot, 'tests/fixtures/single/single_cpp.cpp');
const projectFixture = path.join(repoRoot, 'tests/fixtures/skbuild_c');
const buildTimeoutMs = 240_000;

let tempDir = '';
let stateDir = '';
let moduleFile = '';
let client: PrestageClient;
const tracker = new ProjectTracker();
let project: OpenedProject;
const finished: BuildFinishedParams[] = [];

function waitForEvent<T>(description: string, check: () => T | undefined, timeoutMs = buildTimeoutMs): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      const value = check();
      if (value !== undefined) return resolve(value);
      if (Date.now() > deadline) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

/**
 * Waits for a build/finished after the first `seen` ones, then until the daemon reports the project
 * idle (the watcher may queue another build for the same save); returns the settled last_build.
 */
async function settledBuild(seen: number): Promise<LastBuild> {
  await waitForEvent(`build/finished #${seen + 1}`, () => finished.filter((f) => f.project === project.id)[seen]);
  const deadline = Date.now() + buildTimeoutMs;
  for (;;) {
    const projects = await client.listProjects();
    const entry = projects.find((p) => p.id === project.id);
    assert.ok(entry, 'project/list still has the project');
    if (entry.state === 'idle' && entry.last_build) {
      tracker.applyList(projects);
      return entry.last_build;
    }
    if (Date.now() > deadline) throw new Error(`project still ${entry.state} after ${buildTimeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function finishedCount(): number {
  return finished.filter((f) => f.project === project.id).length;
}

function replaceInModule(from: string, to: string): void {
  const source = fs.readFileSync(moduleFile, 'utf8');
  assert.ok(source.includes(from), `${moduleFile} has no "${from}"`);
  fs.writeFileSync(moduleFile, source.replace(from, to));
}

function lineOf(text: string): number {
  return fs.readFileSync(moduleFile, 'utf8').split('\n').findIndex((line) => line.includes(text)) + 1;
}

before(() => {
  assert.ok(fs.existsSync(serverPath), `prestaged not found at ${serverPath}: build it or set PRESTAGE_SERVER`);
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prestage-ext-it-'));
  stateDir = path.join(tempDir, 'state');
  fs.mkdirSync(path.join(tempDir, 'ws'));
  moduleFile = path.join(tempDir, 'ws', 'single_cpp.cpp');
  fs.copyFileSync(fixture, moduleFile);
  client = new PrestageClient({
    stateDir,
    serverPath,
    clientName: 'prestage-vscode-test',
    clientVersion: '0.0.0',
    initialBackoffMs: 100,
    maxBackoffMs: 1000,
  });
  client.on('build/started', (params) => tracker.onBuildStarted(params));
  client.on('build/finished', (params) => {
    tracker.onBuildFinished(params);
    finished.push(params);
  });
});

after(async () => {
  try {
    const info = readServerJson(stateDir);
    await client?.shutdownServer().catch(() => undefined);
    await client?.stop();
    if (info) await waitForExit(info.pid, 5000).catch(() => undefined);
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
});

test('starts the daemon when none runs and connects over WebSocket', async () => {
  assert.equal(await findRunningServer(stateDir), null);
  await client.start();
  assert.ok(client.connected);
  const server = readServerJson(stateDir);
  assert.ok(server && isProcessAlive(server.pid), 'server.json names a live daemon');
  assert.equal(client.server?.pid, server.pid);
  assert.notEqual(client.clientId, null);
  const info = await client.serverInfo();
  assert.equal(info.pid, server.pid);
  assert.ok(info.clients >= 1);
});

test('opens a single-file project', async () => {
  project = await client.openProject(moduleFile, python);
  assert.equal(project.kind, 'cpp-file');
  assert.deepEqual(project.modules, ['single_cpp']);
  tracker.applyOpened(project);
  tracker.applyList(await client.listProjects());
  assert.ok(tracker.get(project.id), 'project/list has the project');
  assert.equal(tracker.projectForPath(moduleFile)?.id, project.id);
});

test('the first build stages a generation', async () => {
  const listed = (await client.listProjects()).find((p) => p.id === project.id)!;
  if (listed.state === 'idle' && !listed.last_build) await client.runBuild(project.id);
  const build = await settledBuild(0);
  assert.equal(build.ok, true, `first build failed: ${JSON.stringify(build.diagnostics)}`);
  const summary = tracker.summary(true);
  assert.equal(summary.state, 'idle');
  assert.ok((summary.generation ?? 0) >= 1, `status shows a generation: ${summary.text}`);
});

test('file/saved of a change builds a newer generation', async () => {
  const before = tracker.get(project.id)!.generation ?? 0;
  const seen = finishedCount();
  replaceInModule('return 10;', 'return 20;');
  await client.fileSaved(moduleFile);
  const build = await settledBuild(seen);
  assert.equal(build.ok, true);
  assert.ok(build.generation > before, `generation ${build.generation} > ${before}`);
  assert.equal(tracker.summary(true).text, `$(check) prestage: gen ${build.generation}`);
});

test('a compile error comes back as a diagnostic at the right file and line', async () => {
  const seen = finishedCount();
  const staged = tracker.get(project.id)!.generation;
  replaceInModule('return 20;', 'return 20 +;');
  const errorLine = lineOf('return 20 +;');
  await client.fileSaved(moduleFile);
  const build = await settledBuild(seen);
  assert.equal(build.ok, false);
  assert.equal(tracker.summary(true).state, 'failed');
  assert.equal(tracker.get(project.id)!.generation, staged, 'the last good generation stays staged');
  const failedEvent = finished.filter((f) => f.project === project.id).slice(seen).find((f) => !f.ok);
  assert.ok(failedEvent, 'a build/finished notification reported the failure');
  for (const diagnostics of [build.diagnostics, failedEvent.diagnostics]) {
    const byFile = groupByFile(diagnostics, projectDirectory(project.root, project.kind));
    const errors = (byFile.get(moduleFile) ?? []).filter((d) => d.severity === 'error');
    assert.ok(errors.length > 0, `an error in ${moduleFile}: ${JSON.stringify(diagnostics)}`);
    assert.equal(errors[0].line, errorLine - 1, 'editor line is 0-based');
  }
  const buildLog = await client.buildLog(project.id);
  assert.equal(buildLog.ok, false);
  assert.ok(buildLog.log.length > 0, 'the failed build has a log');
});

test('fixing the error clears diagnostics and stages a newer generation', async () => {
  const seen = finishedCount();
  const lastGood = tracker.get(project.id)!.generation ?? 0;
  replaceInModule('return 20 +;', 'return 30;');
  await client.fileSaved(moduleFile);
  const build = await settledBuild(seen);
  assert.equal(build.ok, true);
  assert.equal(build.diagnostics.filter((d) => d.severity === 'error').length, 0);
  assert.ok(build.generation > lastGood);
  assert.equal(tracker.summary(true).state, 'idle');
  assert.equal(tracker.get(project.id)!.diagnostics.length, 0);

  const generations = await client.generations(project.id);
  const good = generations.filter((g) => g.ok).map((g) => g.generation);
  assert.ok(good.includes(build.generation), `generation/list has ${build.generation}: ${JSON.stringify(good)}`);
  for (const entry of generations) {
    assert.equal(typeof entry.created_at, 'string');
    assert.equal(typeof entry.duration_ms, 'number');
  }
});

test('reload/request reaches a connected finder-like client', async () => {
  const server = client.server!;
  const socket = await openRpcSocket(server.port, server.token);
  const finder = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
  const requested: ReloadRequestedParams[] = [];
  finder.onNotification('reload/requested', (params: ReloadRequestedParams) => requested.push(params));
  finder.listen();
  try {
    await finder.sendRequest('initialize', { client: { name: 'finder-test', version: '0.0.0', pid: process.pid } });
    const result = await client.requestReload(project.id);
    assert.equal(result.project, project.id);
    assert.ok(result.clients >= 1, `told ${result.clients} client(s)`);
    const received = await waitForEvent('reload/requested at the finder', () => requested[0], 30_000);
    assert.equal(received.project, project.id);
  } finally {
    finder.dispose();
    socket.close();
  }
});

test('restartServer replaces the daemon and reopens the project', async () => {
  const oldPid = client.server!.pid;
  const server = await client.restartServer();
  assert.notEqual(server.pid, oldPid);
  assert.equal(isProcessAlive(oldPid), false);
  assert.ok(client.connected);
  const projects = await client.listProjects();
  assert.ok(projects.some((p) => p.root === moduleFile), `project reopened: ${JSON.stringify(projects.map((p) => p.root))}`);
});

test('reconnects with backoff after the daemon dies', async () => {
  const oldPid = client.server!.pid;
  const disconnected = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
  const reconnected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  process.kill(oldPid, 'SIGKILL');
  await disconnected;
  assert.equal(client.connected, false);
  await assert.rejects(client.listProjects(), /not connected to prestaged/);
  await reconnected;
  assert.ok(client.connected);
  assert.notEqual(client.server!.pid, oldPid);
  const projects = await client.listProjects();
  assert.ok(projects.some((p) => p.root === moduleFile), 'project reopened after reconnect');
});

test('a bad project root gets an error that names it', async () => {
  const missing = path.join(tempDir, 'no-such-project');
  await assert.rejects(client.openProject(missing), (error: Error) => {
    assert.match(error.message, /no-such-project/);
    return true;
  });
});

test('the roots found in a monorepo open in the daemon; a root it cannot build is refused once', async () => {
  const repo = path.join(tempDir, 'repo');
  const native = path.join(repo, 'native', 'skbuild_c');
  const tools = path.join(repo, 'tools');
  fs.cpSync(projectFixture, native, { recursive: true });
  fs.writeFileSync(path.join(repo, 'pyproject.toml'), '[tool.ruff]\nline-length = 100\n');
  fs.mkdirSync(tools);
  fs.writeFileSync(path.join(tools, 'CMakeLists.txt'), 'cmake_minimum_required(VERSION 3.18)\nproject(tools CXX)\nadd_executable(t t.cpp)\n');
  fs.mkdirSync(path.join(repo, 'node_modules', 'junk'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'node_modules', 'junk', 'setup.py'), '');

  const found = await findProjectRoots(repo);
  assert.deepEqual(found, { roots: [tools, native], truncated: false });

  const opened = new Map<string, OpenedProject>();
  const errors = new Map<string, string>();
  let requests = 0;
  const opener = new RootOpener(async (root) => {
    requests += 1;
    try {
      opened.set(root, await client.openProject(root, python));
      return 'opened';
    } catch (error) {
      errors.set(root, (error as Error).message);
      return outcomeOfOpenError(error);
    }
  });
  assert.deepEqual(await Promise.all(found.roots.map((root) => opener.open(root))), ['refused', 'opened']);
  assert.match(errors.get(tools) ?? '', /params\.root/, 'the refusal names the root parameter');
  const project = opened.get(native)!;
  assert.equal(project.kind, 'cmake');
  assert.deepEqual(project.modules, ['skbuild_c']);
  assert.ok((await client.listProjects()).some((entry) => entry.id === project.id), 'project/list has it');

  // A file saved in the project finds the same root again, and nothing is asked twice.
  const candidates = await projectRootsAbove(path.join(native, 'src', 'native.c'), repo);
  assert.deepEqual(candidates, [native]);
  assert.equal(await opener.openFirst(candidates), native);
  assert.equal(await opener.open(tools), 'refused');
  assert.equal(requests, 2);
});
