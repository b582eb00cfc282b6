// Types of the prestaged JSON-RPC contract (docs/protocol.md, schemas/).

export type Severity = 'error' | 'warning' | 'note';

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  severity: Severity;
  message: string;
}

export interface ServerJson {
  pid: number;
  port: number;
  token: string;
  version: string;
  started_at: string;
}

export interface InitializeResult {
  server: { name: string; version: string };
  client_id: string | number;
}

export interface ServerInfo {
  version: string;
  pid: number;
  port: number;
  state_dir: string;
  started_at: string;
  uptime_s: number;
  projects: number;
  builds_running: number;
  clients: number;
}

export type ProjectKind = 'cargo' | 'cmake' | 'rust-file' | 'cpp-file' | 'setuptools' | 'meson';

export interface OpenedProject {
  id: string;
  root: string;
  kind: ProjectKind;
  modules: string[];
}

export interface LastBuild {
  ok: boolean;
  generation: number;
  duration_ms: number;
  diagnostics: Diagnostic[];
  log_tail?: string;
}

export interface ProjectListEntry extends OpenedProject {
  generation: number;
  state: 'idle' | 'queued' | 'building';
  last_build: LastBuild | null;
  watch?: { files: number; overflows: number; mode: string };
  pythons?: string[];
}

export interface BuildLog {
  id: string;
  generation: number;
  ok: boolean;
  log: string;
}

export interface GenerationEntry {
  generation: number;
  python: string;
  created_at: string;
  duration_ms: number;
  ok: boolean;
  artifacts: unknown[];
}

export interface ReloadRequestResult {
  project: string;
  clients: number;
}

export interface BuildStartedParams { project: string; reason: string[] }
export interface ProjectStateParams { project: string; state: 'idle' | 'queued' | 'building' }
/** `done`/`total` come together: the build's fraction, monotone within a build (docs/protocol.md). */
export interface BuildProgressParams { project: string; message: string; done?: number; total?: number }
export interface BuildFinishedParams {
  project: string;
  ok: boolean;
  generation: number;
  duration_ms: number;
  diagnostics: Diagnostic[];
}
export interface ReloadRequestedParams { project: string; generation: number }

// JSON-RPC error codes, generated from schemas/error-codes.json (npm run compile).
export { ErrorCodes, type ErrorCode } from './errorCodes';
