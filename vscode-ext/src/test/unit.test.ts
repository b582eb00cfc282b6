// Unit tests of the pure client logic (no daemon needed).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { groupByFile, projectDirectory, toEditorDiagnostic } from '../core/diagnostics';
import { readServerJson, resolveStateDir } from '../core/discovery';
import { startDaemon } from '../core/daemon';
import { ProjectTracker } from '../core/state';
import { ErrorCodes } from '../core/protocol';
import { fractionOf, ProgressReporter } from '../core/progress';

test('state dir resolves setting, then PRESTAGE_STATE_DIR, then XDG_RUNTIME_DIR, then ~/.cache', () => {
  assert.equal(resolveStateDir('/s', { PRESTAGE_STATE_DIR: '/p' }), '/s');
  assert.equal(resolveStateDir('', { PRESTAGE_STATE_DIR: '/p', XDG_RUNTIME_DIR: '/run/u' }), '/p');
  assert.equal(resolveStateDir(undefined, { XDG_RUNTIME_DIR: '/run/u' }), '/run/u/prestage');
  assert.equal(resolveStateDir('  ', {}), path.join(os.homedir(), '.cache', 'prestage'));
  assert.equal(resolveStateDir('~/st', {}), path.join(os.homedir(), 'st'));
});

test('server.json: absent is null, malformed names the file and the field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prestage-unit-'));
  try {
    assert.equal(readServerJson(dir), null);
    const file = path.join(dir, 'server.json');
    fs.writeFileSync(file, '{not json');
    assert.throws(() => readServerJson(dir), new RegExp(`${file} is not valid JSON`));
    fs.writeFileSync(file, JSON.stringify({ pid: 1, port: 70000, token: 'ab' }));
    assert.throws(() => readServerJson(dir), /has no valid "port"/);
    fs.writeFileSync(file, JSON.stringify({ pid: 1, port: 4000, token: '' }));
    assert.throws(() => readServerJson(dir), /has no "token"/);
    fs.writeFileSync(file, JSON.stringify({ pid: 7, port: 4000, token: 'ab', version: '0.1.0', started_at: 'x' }));
    assert.equal(readServerJson(dir)?.port, 4000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('starting a server binary that does not exist names the path', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prestage-unit-'));
  try {
    await assert.rejects(startDaemon({ serverPath: path.join(dir, 'no-such-prestaged'), stateDir: path.join(dir, 'state'), timeoutMs: 5000 }),
      /no-such-prestaged/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('diagnostics convert 1-based positions to 0-based and resolve relative files', () => {
  const converted = toEditorDiagnostic({ file: 'src/lib.rs', line: 12, column: 5, severity: 'error', message: 'boom' }, '/proj');
  assert.deepEqual(converted, { file: '/proj/src/lib.rs', line: 11, column: 4, severity: 'error', message: 'boom' });
  const unknownPosition = toEditorDiagnostic({ file: '/abs/a.cpp', line: 0, column: 0, severity: 'note', message: 'n' }, '/proj');
  assert.equal(unknownPosition.line, 0);
  assert.equal(unknownPosition.column, 0);
  assert.equal(unknownPosition.severity, 'information');
  assert.equal(projectDirectory('/d/x.cpp', 'cpp-file'), '/d');
  assert.equal(projectDirectory('/d/proj', 'cargo'), '/d/proj');
  const grouped = groupByFile([
    { file: '/p/a.cpp', line: 1, column: 1, severity: 'error', message: 'e1' },
    { file: 'a.cpp', line: 2, column: 1, severity: 'warning', message: 'w' },
    { file: '/p/b.cpp', line: 3, column: 1, severity: 'error', message: 'e2' },
  ], '/p');
  assert.deepEqual([...grouped.keys()], ['/p/a.cpp', '/p/b.cpp']);
  assert.deepEqual(grouped.get('/p/a.cpp')?.map((d) => d.message), ['e1', 'w']);
});

test('tracker follows a build through started, progress, failure and recovery', () => {
  const tracker = new ProjectTracker();
  assert.equal(tracker.summary(false).state, 'offline');
  assert.equal(tracker.summary(true).state, 'none');
  tracker.applyList([{ id: 'p1', root: '/w/pkg', kind: 'cmake', modules: ['pkg'], generation: 0, state: 'idle', last_build: null }]);
  assert.equal(tracker.summary(true).text, '$(check) prestage', 'generation 0 is "nothing staged"');
  assert.match(tracker.summary(true).tooltip, /not built yet/);
  tracker.applyList([{ id: 'p1', root: '/w/pkg', kind: 'cmake', modules: ['pkg'], generation: 3, state: 'idle',
    last_build: { ok: true, generation: 3, duration_ms: 10, diagnostics: [], log_tail: '' } }]);
  assert.equal(tracker.summary(true).text, '$(check) prestage: gen 3');

  tracker.onBuildStarted({ project: 'p1', reason: ['/w/pkg/src/a.cpp'] });
  assert.equal(tracker.summary(true).state, 'building');
  assert.match(tracker.summary(true).text, /sync~spin.*building pkg/);
  tracker.onBuildProgress({ project: 'p1', message: 'compiling' });
  assert.match(tracker.summary(true).tooltip, /compiling/);

  tracker.onBuildFinished({ project: 'p1', ok: false, generation: 3, duration_ms: 50,
    diagnostics: [{ file: '/w/pkg/src/a.cpp', line: 4, column: 2, severity: 'error', message: 'bad' }] });
  const failed = tracker.summary(true);
  assert.equal(failed.state, 'failed');
  assert.match(failed.text, /build failed/);
  assert.match(failed.tooltip, /1 error\(s\); gen 3 still staged/);
  assert.equal(tracker.get('p1')?.diagnostics.length, 1);

  tracker.onBuildFinished({ project: 'p1', ok: true, generation: 4, duration_ms: 40, diagnostics: [] });
  assert.equal(tracker.summary(true).text, '$(check) prestage: gen 4');
  assert.equal(tracker.get('p1')?.diagnostics.length, 0);

  assert.equal(tracker.onBuildStarted({ project: 'unknown', reason: [] }), undefined);
});

test('tracker follows project/state: queued shows the spinner, idle ends it without a build', () => {
  const tracker = new ProjectTracker();
  tracker.applyList([{ id: 'p1', root: '/w/pkg', kind: 'cmake', modules: ['pkg'], generation: 3, state: 'idle',
    last_build: { ok: true, generation: 3, duration_ms: 10, diagnostics: [], log_tail: '' } }]);
  tracker.onProjectState({ project: 'p1', state: 'queued' });
  assert.equal(tracker.summary(true).state, 'building');
  tracker.onProjectState({ project: 'p1', state: 'idle' });
  assert.equal(tracker.summary(true).text, '$(check) prestage: gen 3');
  assert.equal(tracker.onProjectState({ project: 'unknown', state: 'idle' }), undefined);
});

test('tracker maps files to the deepest project and single files exactly', () => {
  const tracker = new ProjectTracker();
  tracker.applyOpened({ id: 'outer', root: '/w', kind: 'cargo', modules: ['a'] });
  tracker.applyOpened({ id: 'inner', root: '/w/sub', kind: 'cmake', modules: ['b'] });
  tracker.applyOpened({ id: 'file', root: '/x/m.cpp', kind: 'cpp-file', modules: ['m'] });
  assert.equal(tracker.projectForPath('/w/src/lib.rs')?.id, 'outer');
  assert.equal(tracker.projectForPath('/w/sub/src/a.cpp')?.id, 'inner');
  assert.equal(tracker.projectForPath('/w2/a.rs'), undefined);
  assert.equal(tracker.projectForPath('/x/m.cpp')?.id, 'file');
  assert.equal(tracker.projectForPath('/x/other.cpp'), undefined);
  tracker.applyList([{ id: 'inner', root: '/w/sub', kind: 'cmake', modules: ['b'], generation: 0, state: 'building', last_build: null }]);
  assert.deepEqual(tracker.all().map((p) => p.id), ['inner']);
  assert.equal(tracker.summary(true).state, 'building');
});

test('ErrorCodes holds every code of schemas/error-codes.json under its camelCase name', () => {
  const tablePath = path.resolve(__dirname, '..', '..', '..', 'schemas', 'error-codes.json');
  const table: { name: string; code: number }[] = JSON.parse(fs.readFileSync(tablePath, 'utf8'));
  const expected = Object.fromEntries(table.map(({ name, code }) => [name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()), code]));
  assert.deepEqual({ ...ErrorCodes }, expected);
  assert.equal(ErrorCodes.buildFailed, -32001);
});

test('build/progress maps to the window progress: "[n/total]" message and increments that add up to the fraction', () => {
  const reports = new ProgressReporter();
  assert.deepEqual(reports.next({ project: 'p', message: 'Configuring pkg' }), { message: 'Configuring pkg' });
  assert.deepEqual(reports.next({ project: 'p', message: '[10/40] Building CXX object a.o', done: 10, total: 40 }),
    { message: '[10/40] Building CXX object a.o', increment: 25 });
  assert.deepEqual(reports.next({ project: 'p', message: 'Compiling pyo3 v0.17.3', done: 30, total: 40 }),
    { message: '[30/40] Compiling pyo3 v0.17.3', increment: 50 });
  // The same fraction again, or one without a total: no increment, never a negative one.
  assert.deepEqual(reports.next({ project: 'p', message: 'Compiling x', done: 30, total: 40 }), { message: '[30/40] Compiling x' });
  assert.deepEqual(reports.next({ project: 'p', message: 'Compiling y', done: 5 }), { message: 'Compiling y' });
  assert.deepEqual(reports.next({ project: 'p', message: 'odd', done: 50, total: 40 }), { message: 'odd' });
  assert.deepEqual(reports.next({ project: 'p', message: '[40/40] Linking', done: 40, total: 40 }),
    { message: '[40/40] Linking', increment: 25 });
  assert.equal(fractionOf({ project: 'p', message: 'x', done: 1, total: 0 }), null);
});
