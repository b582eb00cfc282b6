// Tracks each project's build state from project/list and server notifications; computes the status bar summary.
import * as path from 'node:path';
import type {
  BuildFinishedParams,
  BuildProgressParams,
  BuildStartedParams,
  Diagnostic,
  OpenedProject,
  ProjectKind,
  ProjectListEntry,
  ProjectStateParams,
} from './protocol';

export interface TrackedProject {
  id: string;
  root: string;
  kind: ProjectKind;
  modules: string[];
  /** Newest good generation. */
  generation: number | null;
  building: boolean;
  buildStartedAt: number | null;
  lastReason: string[];
  /** The newest build/progress of the running build. */
  lastProgress: BuildProgressParams | null;
  lastOk: boolean | null;
  lastDurationMs: number | null;
  diagnostics: Diagnostic[];
  finishedAt: number | null;
}

export type OverallState = 'offline' | 'none' | 'building' | 'failed' | 'idle';

export interface StatusSummary {
  state: OverallState;
  text: string;
  tooltip: string;
  generation: number | null;
}

/** Generation 0 (or none) means nothing is staged yet. */
export function stagedGeneration(generation: number | null | undefined): number | null {
  return typeof generation === 'number' && generation > 0 ? generation : null;
}

export function projectName(project: { root: string }): string {
  return path.basename(project.root);
}

export class ProjectTracker {
  private readonly projects = new Map<string, TrackedProject>();

  all(): TrackedProject[] {
    return [...this.projects.values()];
  }

  get(id: string): TrackedProject | undefined {
    return this.projects.get(id);
  }

  clear(): void {
    this.projects.clear();
  }

  /** Replaces the tracked set with the daemon's list. */
  applyList(entries: readonly ProjectListEntry[]): void {
    const seen = new Set<string>();
    for (const entry of entries) {
      seen.add(entry.id);
      const project = this.upsert(entry);
      project.building = entry.state === 'building' || entry.state === 'queued';
      if (!project.building) project.buildStartedAt = null;
      if (entry.generation !== undefined) project.generation = stagedGeneration(entry.generation);
      if (entry.last_build) {
        project.lastOk = entry.last_build.ok;
        project.lastDurationMs = entry.last_build.duration_ms;
        project.diagnostics = entry.last_build.diagnostics ?? [];
        const built = stagedGeneration(entry.last_build.generation);
        if (entry.last_build.ok && built !== null) project.generation = Math.max(project.generation ?? 0, built);
      }
    }
    for (const id of [...this.projects.keys()]) if (!seen.has(id)) this.projects.delete(id);
  }

  applyOpened(opened: OpenedProject): TrackedProject {
    return this.upsert(opened);
  }

  onBuildStarted(params: BuildStartedParams, now = Date.now()): TrackedProject | undefined {
    const project = this.projects.get(params.project);
    if (!project) return undefined;
    project.building = true;
    project.buildStartedAt = now;
    project.lastReason = params.reason ?? [];
    project.lastProgress = null;
    return project;
  }

  /** project/state: queued or building shows the spinner; idle ends it (also after a round that built nothing). */
  onProjectState(params: ProjectStateParams): TrackedProject | undefined {
    const project = this.projects.get(params.project);
    if (!project) return undefined;
    project.building = params.state !== 'idle';
    if (!project.building) project.buildStartedAt = null;
    return project;
  }

  onBuildProgress(params: BuildProgressParams): TrackedProject | undefined {
    const project = this.projects.get(params.project);
    if (project) project.lastProgress = params;
    return project;
  }

  onBuildFinished(params: BuildFinishedParams, now = Date.now()): TrackedProject | undefined {
    const project = this.projects.get(params.project);
    if (!project) return undefined;
    project.building = false;
    project.buildStartedAt = null;
    project.lastOk = params.ok;
    project.lastDurationMs = params.duration_ms;
    project.diagnostics = params.diagnostics ?? [];
    project.finishedAt = now;
    const built = stagedGeneration(params.generation);
    if (params.ok && built !== null) project.generation = built;
    return project;
  }

  /** The project that owns a file: a single-file project by exact path, else the deepest directory root. */
  projectForPath(file: string): TrackedProject | undefined {
    const resolved = path.resolve(file);
    let best: TrackedProject | undefined;
    for (const project of this.projects.values()) {
      if (project.kind === 'rust-file' || project.kind === 'cpp-file') {
        if (project.root === resolved) return project;
        continue;
      }
      const root = project.root.endsWith(path.sep) ? project.root : project.root + path.sep;
      if (resolved.startsWith(root) && (!best || project.root.length > best.root.length)) best = project;
    }
    return best;
  }

  summary(connected: boolean): StatusSummary {
    if (!connected) {
      return { state: 'offline', text: '$(debug-disconnect) prestage', tooltip: 'prestage: not connected to prestaged', generation: null };
    }
    const projects = this.all();
    if (projects.length === 0) {
      return { state: 'none', text: '$(circle-outline) prestage', tooltip: 'prestage: no project open', generation: null };
    }
    const lines = projects.map(describeProject);
    const tooltip = ['prestage', ...lines, '', 'Click to show the build log'].join('\n');
    const building = projects.filter((p) => p.building);
    if (building.length > 0) {
      const names = building.map(projectName).join(', ');
      return { state: 'building', text: `$(sync~spin) prestage: building ${names}`, tooltip, generation: null };
    }
    const failed = projects.filter((p) => p.lastOk === false);
    if (failed.length > 0) {
      const label = projects.length > 1 ? `${failed.map(projectName).join(', ')} failed` : 'build failed';
      return { state: 'failed', text: `$(error) prestage: ${label}`, tooltip, generation: null };
    }
    const newest = [...projects].sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0))[0];
    const generation = newest.generation;
    const text = generation == null ? '$(check) prestage' : `$(check) prestage: gen ${generation}`;
    return { state: 'idle', text, tooltip, generation };
  }

  private upsert(opened: OpenedProject): TrackedProject {
    let project = this.projects.get(opened.id);
    if (!project) {
      project = {
        id: opened.id,
        root: opened.root,
        kind: opened.kind,
        modules: opened.modules ?? [],
        generation: null,
        building: false,
        buildStartedAt: null,
        lastReason: [],
        lastProgress: null,
        lastOk: null,
        lastDurationMs: null,
        diagnostics: [],
        finishedAt: null,
      };
      this.projects.set(opened.id, project);
    } else {
      project.root = opened.root;
      project.kind = opened.kind;
      project.modules = opened.modules ?? project.modules;
    }
    return project;
  }
}

export function describeProject(project: TrackedProject): string {
  const name = `${projectName(project)} (${project.kind})`;
  if (project.building) return `${name}: building${project.lastProgress ? ` — ${project.lastProgress.message}` : ''}`;
  if (project.lastOk === false) {
    const errors = project.diagnostics.filter((d) => d.severity === 'error').length;
    return `${name}: failed, ${errors} error(s)${project.generation != null ? `; gen ${project.generation} still staged` : ''}`;
  }
  if (project.generation != null) {
    return `${name}: gen ${project.generation}${project.lastDurationMs != null ? ` (${project.lastDurationMs} ms)` : ''}`;
  }
  return `${name}: not built yet`;
}
