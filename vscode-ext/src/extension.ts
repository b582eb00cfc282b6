// The VS Code layer: status bar, progress, Problems, Output channel and commands over PrestageClient.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PrestageClient } from './core/client';
import { groupByFile, projectDirectory, type EditorDiagnostic } from './core/diagnostics';
import { resolveStateDir, expandHome } from './core/discovery';
import type { BuildFinishedParams, BuildProgressParams, GenerationEntry } from './core/protocol';
import { ProgressReporter } from './core/progress';
import { defaultRootSearch, findProjectRoots, projectRootsAbove, type RootSearch } from './core/projectRoots';
import { outcomeOfOpenError, RootOpener, type OpenOutcome } from './core/rootOpener';
import { ProjectTracker, projectName, type TrackedProject } from './core/state';

/** A .rs/.cpp file beside one of these is part of a project, never a single-file project. */
const projectFileNames = ['Cargo.toml', 'pyproject.toml', 'CMakeLists.txt'];
/** Settings read when the client is made: a change reconnects. */
const connectionSettings = ['prestage.serverPath', 'prestage.stateDir', 'prestage.python'];
const singleFileExtensions = new Set(['.rs', '.cpp']);
const progressDelayMs = 1000;

let controller: PrestageController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  controller = new PrestageController(context);
  context.subscriptions.push(controller);
  void controller.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stopClient();
  controller = undefined;
}

class PrestageController implements vscode.Disposable {
  private readonly output = vscode.window.createOutputChannel('prestage');
  private readonly problems = vscode.languages.createDiagnosticCollection('prestage');
  private readonly statusItem = vscode.window.createStatusBarItem('prestage.status', vscode.StatusBarAlignment.Left, 10);
  private readonly tracker = new ProjectTracker();
  private readonly rootOpener = new RootOpener((root) => this.openRoot(root));
  private readonly filesWithProblems = new Map<string, Set<string>>();
  private readonly progressByProject = new Map<string, { finish: () => void; report: (params: BuildProgressParams) => void }>();
  private readonly progressTimers = new Map<string, NodeJS.Timeout>();
  private readonly disposables: vscode.Disposable[] = [];
  private client: PrestageClient | undefined;
  private connectErrorShown = false;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.statusItem.name = 'prestage';
    this.statusItem.command = 'prestage.showLog';
    this.renderStatus();
    this.statusItem.show();
    this.disposables.push(
      this.output,
      this.problems,
      this.statusItem,
      vscode.commands.registerCommand('prestage.reloadKernels', () => this.guard(() => this.reloadKernels())),
      vscode.commands.registerCommand('prestage.rebuild', () => this.guard(() => this.rebuild())),
      vscode.commands.registerCommand('prestage.showLog', () => this.guard(() => this.showLog())),
      vscode.commands.registerCommand('prestage.showGenerations', () => this.guard(() => this.showGenerations())),
      vscode.commands.registerCommand('prestage.restartServer', () => this.guard(() => this.restartServer())),
      vscode.workspace.onDidSaveTextDocument((document) => void this.onSaved(document)),
      vscode.workspace.onDidOpenTextDocument((document) => void this.openProjectOf(document)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.openWorkspaceProjects()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (connectionSettings.some((key) => event.affectsConfiguration(key))) void this.reconnectWithNewSettings();
        else if (event.affectsConfiguration('prestage.projectSearchDepth')) void this.openWorkspaceProjects();
      }),
    );
  }

  async start(): Promise<void> {
    this.client = this.createClient();
    try {
      await this.client.start();
    } catch (error) {
      // The client keeps retrying with backoff; 'connectFailed' reports it once.
      this.log(`prestage: ${(error as Error).message}`);
    }
  }

  async stopClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.stop();
  }

  dispose(): void {
    for (const timer of this.progressTimers.values()) clearTimeout(timer);
    for (const progress of this.progressByProject.values()) progress.finish();
    void this.stopClient();
    for (const disposable of this.disposables) disposable.dispose();
  }

  private settings() {
    const config = vscode.workspace.getConfiguration('prestage');
    const serverPath = expandHome(config.get<string>('serverPath', '').trim()) || 'prestaged';
    const stateDir = resolveStateDir(config.get<string>('stateDir', ''));
    return { serverPath, stateDir };
  }

  private rootSearch(): RootSearch {
    const depth = vscode.workspace.getConfiguration('prestage').get<number>('projectSearchDepth', defaultRootSearch.maxDepth);
    return { ...defaultRootSearch, maxDepth: Number.isInteger(depth) && depth >= 0 ? depth : defaultRootSearch.maxDepth };
  }

  private createClient(): PrestageClient {
    const { serverPath, stateDir } = this.settings();
    const version = (this.context.extension.packageJSON as { version?: string }).version ?? '0.0.0';
    const client = new PrestageClient({
      stateDir,
      serverPath,
      clientName: 'prestage-vscode',
      clientVersion: version,
      log: (line) => this.log(line),
    });
    client.on('connected', () => {
      this.connectErrorShown = false;
      void this.afterConnect(client);
    });
    client.on('disconnected', () => {
      for (const id of [...this.progressByProject.keys()]) this.endProgress(id);
      this.renderStatus();
    });
    client.on('connectFailed', (error) => {
      this.renderStatus();
      if (this.connectErrorShown) return;
      this.connectErrorShown = true;
      void vscode.window
        .showErrorMessage(`prestage: cannot reach prestaged: ${error.message}`, 'Show Output')
        .then((choice) => { if (choice) this.output.show(true); });
    });
    client.on('build/started', (params) => {
      const project = this.tracker.onBuildStarted(params);
      if (!project) return;
      this.log(`[${projectName(project)}] build started${params.reason?.length ? `: ${params.reason.join(', ')}` : ''}`);
      this.scheduleProgress(project);
      this.renderStatus();
    });
    client.on('build/progress', (params) => {
      const project = this.tracker.onBuildProgress(params);
      if (!project) return;
      this.log(`[${projectName(project)}] ${params.message}`);
      this.progressByProject.get(project.id)?.report(params);
      this.renderStatus();
    });
    client.on('build/finished', (params) => this.onBuildFinished(params));
    client.on('project/state', (params) => {
      if (this.tracker.onProjectState(params)) this.renderStatus();
    });
    client.on('reload/requested', (params) => {
      this.log(`reload requested for ${params.project} (generation ${params.generation})`);
    });
    client.on('projects/changed', () => void this.refreshProjects());
    return client;
  }

  private async reconnectWithNewSettings(): Promise<void> {
    this.log('settings changed; reconnecting');
    await this.stopClient();
    this.tracker.clear();
    this.rootOpener.clear();
    this.renderStatus();
    await this.start();
  }

  private async afterConnect(client: PrestageClient): Promise<void> {
    if (client !== this.client) return;
    await this.openWorkspaceProjects();
    for (const document of vscode.workspace.textDocuments) await this.openProjectOf(document);
    await this.refreshProjects();
  }

  private async pythonFor(resource: vscode.Uri | undefined): Promise<string | undefined> {
    const configured = vscode.workspace.getConfiguration('prestage', resource).get<string>('python', '').trim();
    if (configured) return expandHome(configured);
    const pythonExtension = vscode.extensions.getExtension('ms-python.python');
    if (!pythonExtension) return undefined;
    try {
      const api = pythonExtension.isActive ? pythonExtension.exports : await pythonExtension.activate();
      const environmentPath = api?.environments?.getActiveEnvironmentPath?.(resource);
      if (environmentPath?.path) {
        const resolved = await api.environments.resolveEnvironment?.(environmentPath);
        return resolved?.executable?.uri?.fsPath ?? environmentPath.path;
      }
    } catch (error) {
      this.log(`cannot ask the Python extension for its interpreter: ${(error as Error).message}`);
    }
    return undefined;
  }

  /** Opens every project root found in each workspace folder (each root once per session). */
  private async openWorkspaceProjects(): Promise<void> {
    if (!this.client?.connected) return;
    const search = this.rootSearch();
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      if (folder.uri.scheme !== 'file') continue;
      const found = await findProjectRoots(folder.uri.fsPath, search);
      if (found.truncated) this.log(`project search in ${folder.uri.fsPath} stopped after ${search.maxDirectories} directories`);
      if (found.roots.length === 0) {
        this.log(`no project root in ${folder.uri.fsPath} within ${search.maxDepth} level(s) (prestage.projectSearchDepth)`);
      }
      for (const root of found.roots) await this.rootOpener.open(root);
    }
  }

  /** A file no open project owns: opens the nearest project root above it, else the file as a module. */
  private async openProjectOf(document: vscode.TextDocument): Promise<void> {
    if (!this.client?.connected || document.uri.scheme !== 'file') return;
    const file = document.uri.fsPath;
    if (this.tracker.projectForPath(file)) return;
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    const owner = folder ? await this.rootOpener.openFirst(await projectRootsAbove(file, folder.uri.fsPath)) : undefined;
    if (owner || this.tracker.projectForPath(file)) return;
    await this.maybeOpenSingleFile(document);
  }

  private async maybeOpenSingleFile(document: vscode.TextDocument): Promise<void> {
    const file = document.uri.fsPath;
    if (!singleFileExtensions.has(path.extname(file))) return;
    // Only a file that is not inside a project folder can be a single-file project.
    const directory = path.dirname(file);
    if (projectFileNames.some((name) => fs.existsSync(path.join(directory, name)))) return;
    const source = document.getText();
    const isModule = file.endsWith('.rs') ? source.includes('#[pymodule]') : source.includes('PYBIND11_MODULE');
    if (isModule) await this.rootOpener.open(file);
  }

  /** project/open of a directory or single file; a refusal goes to the Output channel only. */
  private async openRoot(root: string): Promise<OpenOutcome> {
    const client = this.client;
    if (!client?.connected) return 'failed';
    try {
      const opened = await client.openProject(root, await this.pythonFor(vscode.Uri.file(root)));
      this.tracker.applyOpened(opened);
      this.log(`opened ${opened.kind} project ${root} (modules: ${opened.modules.join(', ') || 'none'})`);
      return 'opened';
    } catch (error) {
      const outcome = outcomeOfOpenError(error);
      const message = (error as Error).message;
      this.log(outcome === 'refused' ? `not a prestage project: ${root}: ${message}` : `cannot open ${root} (will retry): ${message}`);
      return outcome;
    } finally {
      this.renderStatus();
    }
  }

  private async refreshProjects(): Promise<void> {
    const client = this.client;
    if (!client?.connected) return;
    try {
      this.tracker.applyList(await client.listProjects());
    } catch (error) {
      this.log(`project/list failed: ${(error as Error).message}`);
      return;
    }
    for (const project of this.tracker.all()) this.showProblems(project);
    for (const id of [...this.filesWithProblems.keys()]) {
      if (!this.tracker.get(id)) this.clearProblems(id);
    }
    this.renderStatus();
  }

  private onBuildFinished(params: BuildFinishedParams): void {
    const project = this.tracker.onBuildFinished(params);
    this.endProgress(params.project);
    if (!project) return;
    const name = projectName(project);
    const errors = params.diagnostics.filter((d) => d.severity === 'error').length;
    this.log(params.ok
      ? `[${name}] build ok: generation ${params.generation} in ${params.duration_ms} ms`
      : `[${name}] build failed in ${params.duration_ms} ms with ${errors} error(s)`);
    this.showProblems(project);
    this.renderStatus();
  }

  private showProblems(project: TrackedProject): void {
    this.clearProblems(project.id);
    const byFile = groupByFile(project.diagnostics, projectDirectory(project.root, project.kind));
    for (const [file, diagnostics] of byFile) {
      const uri = vscode.Uri.file(file);
      const others = this.problems.get(uri) ?? [];
      this.problems.set(uri, [...others, ...diagnostics.map(toVscodeDiagnostic)]);
    }
    this.filesWithProblems.set(project.id, new Set(byFile.keys()));
  }

  private clearProblems(projectId: string): void {
    for (const file of this.filesWithProblems.get(projectId) ?? []) this.problems.delete(vscode.Uri.file(file));
    this.filesWithProblems.delete(projectId);
  }

  private scheduleProgress(project: TrackedProject): void {
    if (this.progressTimers.has(project.id) || this.progressByProject.has(project.id)) return;
    const timer = setTimeout(() => {
      this.progressTimers.delete(project.id);
      if (!this.tracker.get(project.id)?.building) return;
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: `prestage: building ${projectName(project)}` },
        (progress) => new Promise<void>((resolve) => {
          const reports = new ProgressReporter();
          this.progressByProject.set(project.id, {
            finish: () => { this.progressByProject.delete(project.id); resolve(); },
            report: (params) => progress.report(reports.next(params)),
          });
          const latest = this.tracker.get(project.id)?.lastProgress;
          if (latest) progress.report(reports.next(latest));
        }),
      );
    }, progressDelayMs);
    this.progressTimers.set(project.id, timer);
  }

  private endProgress(projectId: string): void {
    const timer = this.progressTimers.get(projectId);
    if (timer) clearTimeout(timer);
    this.progressTimers.delete(projectId);
    this.progressByProject.get(projectId)?.finish();
  }

  private renderStatus(): void {
    const summary = this.tracker.summary(this.client?.connected ?? false);
    this.statusItem.text = summary.text;
    this.statusItem.tooltip = summary.tooltip;
    this.statusItem.backgroundColor = summary.state === 'failed'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : undefined;
  }

  private async onSaved(document: vscode.TextDocument): Promise<void> {
    await this.openProjectOf(document);
    const client = this.client;
    if (!client?.connected || document.uri.scheme !== 'file') return;
    const file = document.uri.fsPath;
    if (!this.tracker.projectForPath(file)) return;
    client.fileSaved(file).catch((error: Error) => this.log(`file/saved failed: ${error.message}`));
  }

  private log(line: string): void {
    this.output.appendLine(`[${new Date().toISOString()}] ${line}`);
  }

  private async guard(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (error) {
      this.log(`error: ${(error as Error).message}`);
      void vscode.window.showErrorMessage(`prestage: ${(error as Error).message}`);
    }
  }

  private connectedClient(): PrestageClient {
    if (!this.client?.connected) throw new Error('not connected to prestaged');
    return this.client;
  }

  /** The active editor's project, the only project, or one the user picks. */
  private async chooseProject(purpose: string): Promise<TrackedProject | undefined> {
    const projects = this.tracker.all();
    if (projects.length === 0) throw new Error('no prestage project is open in this workspace');
    const active = vscode.window.activeTextEditor?.document.uri;
    const fromEditor = active?.scheme === 'file' ? this.tracker.projectForPath(active.fsPath) : undefined;
    if (fromEditor) return fromEditor;
    if (projects.length === 1) return projects[0];
    const picked = await vscode.window.showQuickPick(
      projects.map((project) => ({ label: projectName(project), description: project.root, project })),
      { placeHolder: `Project to ${purpose}` },
    );
    return picked?.project;
  }

  private async reloadKernels(): Promise<void> {
    const client = this.connectedClient();
    const project = await this.chooseProject('reload');
    if (!project) return;
    const result = await client.requestReload(project.id);
    const message = `prestage: asked ${result.clients} kernel(s) to reload ${project.modules.join(', ') || projectName(project)}`;
    this.log(message);
    vscode.window.setStatusBarMessage(message, 5000);
  }

  private async rebuild(): Promise<void> {
    const client = this.connectedClient();
    const project = await this.chooseProject('rebuild');
    if (!project) return;
    await client.runBuild(project.id);
    this.log(`[${projectName(project)}] rebuild queued`);
  }

  private async showLog(): Promise<void> {
    const client = this.client;
    const project = client?.connected && this.tracker.all().length > 0 ? await this.chooseProject('show the log of') : undefined;
    if (client && project) {
      const buildLog = await client.buildLog(project.id);
      const status = buildLog.ok ? 'ok' : 'failed';
      this.output.appendLine(`──── build log: ${projectName(project)}, generation ${buildLog.generation ?? '-'}, ${status} ────`);
      this.output.appendLine(buildLog.log.trimEnd());
      this.output.appendLine('──── end of build log ────');
    }
    this.output.show(true);
  }

  private async showGenerations(): Promise<void> {
    const client = this.connectedClient();
    const project = await this.chooseProject('list generations of');
    if (!project) return;
    const generations = await client.generations(project.id);
    if (generations.length === 0) {
      void vscode.window.showInformationMessage(`prestage: ${projectName(project)} has no staged generation yet`);
      return;
    }
    const items = [...generations]
      .sort((a, b) => b.generation - a.generation)
      .map((entry) => generationItem(entry, project.generation));
    const picked = await vscode.window.showQuickPick(items, {
      title: `prestage: staged generations of ${projectName(project)}`,
      placeHolder: 'Pick a generation to list its artifacts in the Output channel',
      matchOnDescription: true,
    });
    if (!picked) return;
    this.output.appendLine(`generation ${picked.entry.generation} of ${projectName(project)} (python ${picked.entry.python}):`);
    for (const artifact of picked.entry.artifacts as Array<{ module?: string; path?: string }>) {
      this.output.appendLine(`  ${artifact.module ?? '?'}: ${artifact.path ?? '?'}`);
    }
    this.output.show(true);
  }

  private async restartServer(): Promise<void> {
    const client = this.client;
    if (!client) throw new Error('prestage is not running');
    this.log('restarting prestaged');
    this.statusItem.text = '$(sync~spin) prestage: restarting';
    const server = await client.restartServer();
    this.log(`prestaged restarted (pid ${server.pid})`);
    await this.refreshProjects();
  }
}

function toVscodeDiagnostic(diagnostic: EditorDiagnostic): vscode.Diagnostic {
  const position = new vscode.Position(diagnostic.line, diagnostic.column);
  const severity = diagnostic.severity === 'error'
    ? vscode.DiagnosticSeverity.Error
    : diagnostic.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information;
  const result = new vscode.Diagnostic(new vscode.Range(position, position), diagnostic.message, severity);
  result.source = 'prestage';
  return result;
}

function generationItem(entry: GenerationEntry, current: number | null): vscode.QuickPickItem & { entry: GenerationEntry } {
  const created = new Date(entry.created_at);
  const when = Number.isNaN(created.getTime()) ? entry.created_at : created.toLocaleString();
  const status = entry.ok ? '$(check) ok' : '$(error) failed';
  return {
    label: `Generation ${entry.generation}${entry.generation === current ? ' (current)' : ''}`,
    description: `${when} · ${entry.duration_ms} ms · ${status}`,
    detail: `${entry.python} · ${entry.artifacts.length} artifact(s)`,
    entry,
  };
}
