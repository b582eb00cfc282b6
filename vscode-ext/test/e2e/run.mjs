// End to end: the packaged extension in real VS Code (code-server) against the real prestaged,
// driven through chromium with playwright-core. Prints "N passed, N failed" last.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const extensionDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const repoRoot = path.resolve(extensionDir, '..');
const outputDir = path.join(repoRoot, 'tests/output/e2e');
const vsixPath = path.join(extensionDir, 'prestage-vscode.vsix');
const fixtureDir = path.join(repoRoot, 'tests/fixtures/cmake_pkg');
const python = process.env.PRESTAGE_PYTHON || '/usr/bin/python3';
const serverPath = process.env.PRESTAGE_SERVER || path.join(repoRoot, 'build/server/app/prestaged');
const buildTimeoutMs = Number(process.env.PRESTAGE_E2E_BUILD_TIMEOUT_MS) || 240_000;
const uiTimeoutMs = 60_000;
const requireHere = createRequire(path.join(extensionDir, 'package.json'));
const WebSocket = requireHere('ws');

const results = [];
const cleanups = [];
let page;
let stepIndex = 0;

function log(message) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function step(name, body) {
  stepIndex += 1;
  const label = `${String(stepIndex).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
  log(`step: ${name}`);
  try {
    await body();
    results.push({ name, ok: true });
    log(`ok: ${name}`);
  } catch (error) {
    results.push({ name, ok: false, error });
    log(`FAILED: ${name}: ${error?.stack ?? error}`);
  } finally {
    if (page) await page.screenshot({ path: path.join(outputDir, `${label}.png`) }).catch(() => undefined);
  }
}

function setupTools() {
  const script = path.join(extensionDir, 'scripts/e2e-setup.sh');
  const stdout = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const env = {};
  for (const line of stdout.split('\n')) {
    const separator = line.indexOf('=');
    if (line.startsWith('E2E_') && separator > 0) env[line.slice(0, separator)] = line.slice(separator + 1);
  }
  for (const key of ['E2E_NODE_BIN', 'E2E_CODE_SERVER', 'E2E_NODE_MODULES']) {
    if (!env[key]) throw new Error(`e2e-setup.sh did not print ${key}`);
  }
  return env;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(description, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${last ? ` (last error: ${last.message})` : ''}`);
}

function startProcess(command, args, options, logFile) {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    const deadline = Date.now() + 10_000;
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) await sleep(100);
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  return child;
}

/** Raw JSON-RPC over the daemon's WebSocket, for the test's own questions and the final shutdown. */
async function connectClient(serverJson) {
  const socket = new WebSocket(`ws://127.0.0.1:${serverJson.port}/rpc`, {
    headers: { Authorization: `Bearer ${serverJson.token}` },
  });
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  const received = [];
  const pending = new Map();
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    } else if (message.method) {
      received.push(message);
    }
  });
  let nextId = 1;
  const request = (method, params) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, (message) => (message.error ? reject(new Error(message.error.message)) : resolve(message.result)));
    socket.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }));
  });
  await request('initialize', { client: { name: 'e2e-test', version: '0.0.0', pid: process.pid } });
  cleanups.push(async () => socket.close());
  return { socket, received, request };
}

/**
 * A Python process with the real prestage client and the notebook reloader (test/e2e/kernel.py),
 * which has imported `module`. `next()` resolves with its next JSON line.
 */
function startKernel(stateDir, sourceDir, module, logFile) {
  const script = path.join(extensionDir, 'test/e2e/kernel.py');
  const errors = fs.openSync(logFile, 'w');
  const child = spawn(python, [script, path.join(repoRoot, 'pyclient'), sourceDir, module], {
    env: { ...process.env, PRESTAGE_STATE_DIR: stateDir, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', errors],
  });
  fs.closeSync(errors);
  cleanups.push(async () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const lines = [];
  const waiters = [];
  let buffer = '';
  child.stdout.on('data', (data) => {
    buffer += data.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (!line.startsWith('{')) {
        log(`kernel says: ${line}`);  // e.g. the reloader's "prestage: reloaded ..."
        continue;
      }
      if (waiters.length) waiters.shift()(line); else lines.push(line);
    }
  });
  const next = (description, timeoutMs) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for the kernel: ${description} (see ${logFile})`)), timeoutMs);
    const take = (line) => {
      clearTimeout(timer);
      try { resolve(JSON.parse(line)); } catch (error) { reject(new Error(`the kernel printed ${line}: ${error.message}`)); }
    };
    if (lines.length) take(lines.shift()); else waiters.push(take);
    child.once('exit', (code) => reject(new Error(`the kernel exited with ${code} before ${description} (see ${logFile})`)));
  });
  return { next };
}

async function statusText() {
  const items = page.locator('.statusbar-item').filter({ hasText: 'prestage' });
  if ((await items.count()) === 0) return '';
  return (await items.first().innerText()).trim();
}

async function waitForStatus(description, predicate, timeoutMs = buildTimeoutMs) {
  return waitFor(`status bar ${description}`, async () => {
    const text = await statusText();
    return predicate(text) ? text : null;
  }, timeoutMs).catch(async (error) => {
    throw new Error(`${error.message}; status bar shows "${await statusText()}"`);
  });
}

function generationIn(text) {
  const match = /gen (\d+)/.exec(text);
  return match ? Number(match[1]) : null;
}

async function runCommand(title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: uiTimeoutMs });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout: uiTimeoutMs });
  await page.keyboard.press('Enter');
}

async function openFile(relativePath) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: uiTimeoutMs });
  await input.fill(relativePath);
  const name = path.basename(relativePath);
  await page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: name }).first()
    .waitFor({ state: 'visible', timeout: uiTimeoutMs });
  await page.keyboard.press('Enter');
  await page.locator(`.tab[data-resource-name="${name}"], .tab:has-text("${name}")`).first()
    .waitFor({ state: 'visible', timeout: uiTimeoutMs });
  await page.locator('.monaco-editor .view-lines').first().click();
}

/** Replaces one line in the active editor and saves. */
async function replaceLineAndSave(savedFile, lineNumber, text) {
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: uiTimeoutMs });
  await input.fill(`:${lineNumber}`);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Home');
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+End');
  await page.keyboard.insertText(text);
  await page.keyboard.press('Control+S');
  await waitFor(`line ${lineNumber} saved to disk as "${text.trim()}"`,
    async () => fs.readFileSync(savedFile, 'utf8').split('\n')[lineNumber - 1] === text, uiTimeoutMs);
}

async function problemRows() {
  const rows = page.locator('.markers-panel .monaco-list-row');
  const count = await rows.count();
  const texts = [];
  for (let i = 0; i < count; i += 1) texts.push((await rows.nth(i).innerText()).replace(/\s+/g, ' ').trim());
  return texts;
}

async function main() {
  fs.mkdirSync(outputDir, { recursive: true });
  for (const file of fs.readdirSync(outputDir)) if (file.endsWith('.png')) fs.rmSync(path.join(outputDir, file));
  if (!fs.existsSync(serverPath)) throw new Error(`prestaged not found at ${serverPath} (build it or set PRESTAGE_SERVER)`);
  if (!fs.existsSync(vsixPath)) throw new Error(`${vsixPath} missing: run "npm run compile && npx vsce package --out prestage-vscode.vsix" first`);
  if (!fs.existsSync(fixtureDir)) throw new Error(`fixture ${fixtureDir} missing`);
  const tools = setupTools();
  const { chromium } = createRequire(path.join(tools.E2E_NODE_MODULES, 'package.json'))('playwright-core');

  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prestage-e2e-'));
  cleanups.push(async () => fs.rmSync(tempDir, { recursive: true, force: true }));
  const stateDir = path.join(tempDir, 'state');
  fs.mkdirSync(stateDir, { mode: 0o700 });
  const workspace = path.join(tempDir, 'ws', 'cmake_pkg');
  fs.cpSync(fixtureDir, workspace, { recursive: true });
  const userDataDir = path.join(tempDir, 'user-data');
  cleanups.push(async () => keepExtensionLog(userDataDir));
  const extensionsDir = path.join(tempDir, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify({
    'prestage.serverPath': serverPath,
    'prestage.stateDir': stateDir,
    'prestage.python': python,
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    'telemetry.telemetryLevel': 'off',
    'files.autoSave': 'off',
    'editor.autoClosingBrackets': 'never',
    'editor.formatOnSave': false,
    'window.restoreWindows': 'none',
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
  }, null, 2));

  log(`starting prestaged on ${stateDir}`);
  const daemonEnv = { ...process.env, PRESTAGE_STATE_DIR: stateDir };
  startProcess(serverPath, ['--state-dir', stateDir], { env: daemonEnv }, path.join(tempDir, 'prestaged.log'));
  const serverJsonFile = path.join(stateDir, 'server.json');
  const serverJson = await waitFor('server.json', async () => {
    const info = JSON.parse(fs.readFileSync(serverJsonFile, 'utf8'));
    return info.port && info.token ? info : null;
  }, 30_000);
  cleanups.push(async () => {
    try {
      const client = await connectClient(serverJson);
      await client.request('shutdown').catch(() => undefined);
    } catch { /* already gone */ }
  });

  const csEnv = {
    ...process.env,
    PATH: `${tools.E2E_NODE_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(tempDir, 'xdg-config'),
    XDG_DATA_HOME: path.join(tempDir, 'xdg-data'),
    XDG_CACHE_HOME: path.join(tempDir, 'xdg-cache'),
  };
  const nodeBinary = path.join(tools.E2E_NODE_BIN, 'node');
  const commonFlags = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  log('installing the .vsix into code-server');
  execFileSync(nodeBinary, [tools.E2E_CODE_SERVER, ...commonFlags, '--install-extension', vsixPath, '--force'],
    { env: csEnv, stdio: ['ignore', 'inherit', 'inherit'] });

  const port = await freePort();
  log(`starting code-server on 127.0.0.1:${port}`);
  startProcess(nodeBinary, [tools.E2E_CODE_SERVER, ...commonFlags, '--auth', 'none', '--disable-workspace-trust',
    '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override',
    '--bind-addr', `127.0.0.1:${port}`, workspace], { env: csEnv }, path.join(outputDir, 'code-server.log'));
  await waitFor('code-server /healthz', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    return response.ok;
  }, 60_000);

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-default-apps'],
  });
  cleanups.push(async () => browser.close());
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 120_000 });

  let firstGeneration = 0;
  await step('extension activates, opens the project and its first build shows "gen N" in the status bar', async () => {
    const text = await waitForStatus('"gen N"', (t) => /^prestage: gen \d+$/.test(t));
    firstGeneration = generationIn(text);
    log(`status: ${text}`);
  });

  let kernel;
  await step('a running kernel imports the package through the prestage client', async () => {
    kernel = startKernel(stateDir, path.join(workspace, 'src'), 'cmake_pkg', path.join(outputDir, 'kernel.log'));
    const imported = await kernel.next('importing cmake_pkg', buildTimeoutMs);
    log(`kernel: ${JSON.stringify(imported)}`);
    if (imported.num !== 10 || imported.generation !== firstGeneration) {
      throw new Error(`the kernel imported get_num() = ${imported.num} from generation ${imported.generation}; expected 10 from ${firstGeneration}`);
    }
  });

  const coreFile = path.join(workspace, 'src/core.cpp');
  const lines = fs.readFileSync(coreFile, 'utf8').split('\n');
  const returnLine = lines.findIndex((line) => line.trim() === 'return 10;') + 1;
  if (returnLine === 0) throw new Error(`${coreFile} has no "return 10;" line to edit`);

  let editedGeneration = 0;
  let fixedGeneration = 0;
  await step('saving a change stages a new generation shown in the status bar', async () => {
    await openFile('src/core.cpp');
    await replaceLineAndSave(coreFile, returnLine, '  return 20;');
    await waitForStatus('"building"', (t) => t.includes('building'));
    await page.screenshot({ path: path.join(outputDir, `${String(stepIndex).padStart(2, '0')}-building-spinner.png`) });
    const text = await waitForStatus(`a generation above ${firstGeneration}`, (t) => (generationIn(t) ?? -1) > firstGeneration);
    editedGeneration = generationIn(text);
    log(`status: ${text}`);
  });

  await step('"Reload Modules in Running Kernels" makes a running kernel reload the new generation', async () => {
    if (!kernel) throw new Error('no kernel is running (see the previous step)');
    const client = await connectClient(serverJson);
    const project = (await client.request('project/list')).find((p) => p.root === workspace);
    if (!project) throw new Error(`project ${workspace} is not open in the daemon`);
    await runCommand('prestage: Reload Modules in Running Kernels');
    const reloaded = await kernel.next('the reload after reload/requested', uiTimeoutMs);
    log(`kernel: ${JSON.stringify(reloaded)}`);
    if (!reloaded.requested.includes(project.id)) {
      throw new Error(`the kernel was asked to reload ${JSON.stringify(reloaded.requested)}, expected ${project.id}`);
    }
    if (reloaded.num !== 20 || reloaded.generation !== editedGeneration) {
      throw new Error(`after the reload get_num() is ${reloaded.num} from generation ${reloaded.generation}; expected 20 from ${editedGeneration}`);
    }
  });

  const errorColumn = '  return 20 +;'.indexOf(';') + 1;
  await step('a compile error appears in Problems at the right line', async () => {
    await replaceLineAndSave(coreFile, returnLine, '  return 20 +;');
    await waitForStatus('"build failed"', (t) => t.includes('failed'));
    await page.keyboard.press('Control+Shift+M');
    const rows = await waitFor(`a problem at line ${returnLine}`, async () => {
      const texts = await problemRows();
      return texts.some((t) => t.includes(`[Ln ${returnLine}, Col ${errorColumn}]`) && /expected/.test(t)) ? texts : null;
    }, uiTimeoutMs).catch(async (error) => {
      throw new Error(`${error.message}; Problems shows ${JSON.stringify(await problemRows())}`);
    });
    log(`problems: ${JSON.stringify(rows)}`);
    const gutter = await page.locator('.monaco-editor .squiggly-error').count();
    if (gutter === 0) throw new Error('no error squiggle in the editor');
  });

  await step('fixing the error clears Problems and stages a newer generation', async () => {
    await openFile('src/core.cpp');
    await replaceLineAndSave(coreFile, returnLine, '  return 30;');
    const text = await waitForStatus(`a generation above ${editedGeneration}`, (t) => (generationIn(t) ?? -1) > editedGeneration);
    fixedGeneration = generationIn(text);
    await waitFor('Problems to clear', async () => (await problemRows()).length === 0, uiTimeoutMs).catch(async (error) => {
      throw new Error(`${error.message}; Problems shows ${JSON.stringify(await problemRows())}`);
    });
    const empty = await page.locator('.markers-panel').innerText();
    if (!/No problems/i.test(empty)) throw new Error(`Problems panel does not say it is empty: ${empty.slice(0, 200)}`);
    log(`status: ${text}`);
  });

  await step('"Show Staged Generations" lists the generations', async () => {
    await runCommand('prestage: Show Staged Generations');
    const rows = page.locator('.quick-input-widget .monaco-list-row');
    const current = rows.filter({ hasText: `Generation ${fixedGeneration} (current)` }).first();
    await current.waitFor({ state: 'visible', timeout: uiTimeoutMs });
    await rows.filter({ hasText: `Generation ${firstGeneration} ` }).first().waitFor({ state: 'visible', timeout: uiTimeoutMs });
    const labels = await rows.allInnerTexts();
    if (!labels.every((label) => / ms · .*ok|failed/.test(label))) throw new Error(`rows lack duration/status: ${JSON.stringify(labels)}`);
    log(`generations: ${JSON.stringify(labels)}`);
    await page.screenshot({ path: path.join(outputDir, `${String(stepIndex).padStart(2, '0')}-generations-quick-pick.png`) });
    await page.keyboard.press('Escape');
  });

  await step('clicking the status bar item shows the build log in the "prestage" Output channel', async () => {
    await page.locator('.statusbar-item').filter({ hasText: 'prestage' }).first().click();
    await page.locator('.part.panel .view-lines').filter({ hasText: 'end of build log' }).first()
      .waitFor({ state: 'visible', timeout: uiTimeoutMs });
    const channel = await page.locator('.part.panel .monaco-select-box').first().inputValue().catch(() => '');
    log(`output channel selected: ${channel || '(unknown)'}`);
  });
}

function keepExtensionLog(userDataDir) {
  const logsDir = path.join(userDataDir, 'logs');
  if (!fs.existsSync(logsDir)) return;
  for (const entry of fs.readdirSync(logsDir, { recursive: true })) {
    if (String(entry).endsWith('-prestage.log')) fs.copyFileSync(path.join(logsDir, entry), path.join(outputDir, 'prestage-output.log'));
  }
}

let fatal = null;
try {
  await main();
} catch (error) {
  fatal = error;
  log(`FATAL: ${error?.stack ?? error}`);
  if (page) await page.screenshot({ path: path.join(outputDir, 'fatal.png') }).catch(() => undefined);
} finally {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch (error) { log(`cleanup: ${error.message}`); }
  }
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed + (fatal ? 1 : 0);
for (const result of results) log(`${result.ok ? 'PASS' : 'FAIL'} ${result.name}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
