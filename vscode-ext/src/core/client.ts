// Connection to prestaged: discovery, start-up, JSON-RPC over WebSocket, reconnect with backoff.
import { EventEmitter } from 'node:events';
import { createMessageConnection, MessageConnection } from 'vscode-jsonrpc';
import type WebSocket from 'ws';
import { findRunningServer } from './discovery';
import { startDaemon, waitForExit } from './daemon';
import type {
  BuildFinishedParams,
  BuildLog,
  BuildProgressParams,
  BuildStartedParams,
  GenerationEntry,
  InitializeResult,
  OpenedProject,
  ProjectListEntry,
  ProjectStateParams,
  ReloadRequestedParams,
  ReloadRequestResult,
  ServerInfo,
  ServerJson,
} from './protocol';
import { openRpcSocket, WebSocketMessageReader, WebSocketMessageWriter } from './wsTransport';

export interface ClientOptions {
  stateDir: string;
  /** Started when no daemon is running; without it the client only connects. */
  serverPath?: string;
  clientName: string;
  clientVersion: string;
  /** Reconnect after the socket drops; default true. */
  reconnect?: boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  log?: (line: string) => void;
}

export interface ClientEvents {
  connected: [server: ServerJson, init: InitializeResult];
  disconnected: [reason: string];
  connectFailed: [error: Error, retryInMs: number | null];
  'build/started': [BuildStartedParams];
  'build/progress': [BuildProgressParams];
  'build/finished': [BuildFinishedParams];
  'reload/requested': [ReloadRequestedParams];
  'projects/changed': [];
  'project/state': [ProjectStateParams];
}

export const serverNotifications = [
  'build/started',
  'build/progress',
  'build/finished',
  'reload/requested',
  'projects/changed',
  'project/state',
] as const;

interface Session {
  socket: WebSocket;
  connection: MessageConnection;
  server: ServerJson;
  init: InitializeResult;
}

export class PrestageClient extends EventEmitter<ClientEvents> {
  private session: Session | null = null;
  private connecting: Promise<Session> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failedAttempts = 0;
  private stopped = false;
  private suppressReconnect = false;
  /** root → python: reopened after a reconnect, since a restarted daemon forgets them. */
  private readonly openRoots = new Map<string, string | undefined>();

  constructor(private readonly options: ClientOptions) {
    super();
  }

  get connected(): boolean {
    return this.session !== null;
  }

  get server(): ServerJson | null {
    return this.session?.server ?? null;
  }

  get clientId(): string | number | null {
    return this.session?.init.client_id ?? null;
  }

  /** Connects (starting the daemon when allowed); keeps retrying in the background on failure. */
  start(): Promise<void> {
    this.stopped = false;
    return this.ensureConnected().then(() => undefined);
  }

  /** Closes the socket for good; the daemon keeps running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearRetry();
    const session = this.session;
    this.session = null;
    if (session) {
      session.connection.dispose();
      session.socket.close();
    }
  }

  async ensureConnected(): Promise<Session> {
    if (this.session) return this.session;
    if (!this.connecting) {
      this.connecting = this.connectOnce().finally(() => { this.connecting = null; });
      this.connecting.catch((error: Error) => this.scheduleRetry(error));
    }
    return this.connecting;
  }

  private async connectOnce(): Promise<Session> {
    const { stateDir, serverPath } = this.options;
    let server = await findRunningServer(stateDir);
    if (!server) {
      if (!serverPath) throw new Error(`no prestaged is running for state dir ${stateDir} and no server path is set`);
      this.log(`starting ${serverPath} --state-dir ${stateDir}`);
      server = await startDaemon({ serverPath, stateDir });
      this.log(`prestaged ${server.version} started (pid ${server.pid}, port ${server.port})`);
    }
    const socket = await openRpcSocket(server.port, server.token);
    const connection = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
    for (const method of serverNotifications) {
      connection.onNotification(method, (params: unknown) => {
        (this.emit as (event: string, ...args: unknown[]) => boolean)(method, ...(method === 'projects/changed' ? [] : [params]));
      });
    }
    connection.onError(([error]) => this.log(`rpc error: ${error.message}`));
    connection.listen();
    let init: InitializeResult;
    try {
      init = await connection.sendRequest<InitializeResult>('initialize', {
        client: { name: this.options.clientName, version: this.options.clientVersion, pid: process.pid },
      });
    } catch (error) {
      connection.dispose();
      socket.terminate();
      throw error;
    }
    const session: Session = { socket, connection, server, init };
    socket.on('close', () => this.onSocketClosed(session));
    if (this.stopped) {
      connection.dispose();
      socket.close();
      throw new Error('client stopped');
    }
    this.session = session;
    this.failedAttempts = 0;
    this.log(`connected to prestaged ${server.version} on port ${server.port} (client ${init.client_id})`);
    for (const [root, python] of this.openRoots) {
      try {
        await this.sendRequest<OpenedProject>('project/open', python ? { root, python } : { root });
      } catch (error) {
        this.log(`cannot reopen ${root}: ${(error as Error).message}`);
      }
    }
    this.emit('connected', server, init);
    return session;
  }

  private onSocketClosed(session: Session): void {
    if (this.session !== session) return;
    this.session = null;
    session.connection.dispose();
    this.log('connection to prestaged closed');
    this.emit('disconnected', 'socket closed');
    if (!this.stopped && !this.suppressReconnect && this.options.reconnect !== false) {
      this.scheduleRetry(null);
    }
  }

  private scheduleRetry(error: Error | null): void {
    if (this.stopped || this.suppressReconnect || this.options.reconnect === false || this.retryTimer) {
      if (error) this.emit('connectFailed', error, null);
      return;
    }
    const initial = this.options.initialBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 10000;
    const delay = Math.min(max, initial * 2 ** this.failedAttempts);
    this.failedAttempts += 1;
    if (error) {
      this.log(`cannot connect: ${error.message}; retrying in ${delay} ms`);
      this.emit('connectFailed', error, delay);
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped && !this.session) this.ensureConnected().catch(() => undefined);
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  async sendRequest<T>(method: string, params?: object): Promise<T> {
    const session = this.session;
    if (!session) throw new Error(`not connected to prestaged (request ${method})`);
    return params === undefined
      ? session.connection.sendRequest<T>(method)
      : session.connection.sendRequest<T>(method, params);
  }

  async sendNotification(method: string, params: object): Promise<void> {
    const session = this.session;
    if (!session) throw new Error(`not connected to prestaged (notification ${method})`);
    await session.connection.sendNotification(method, params);
  }

  // Methods of docs/protocol.md.

  async openProject(root: string, python?: string): Promise<OpenedProject> {
    const opened = await this.sendRequest<OpenedProject>('project/open', python ? { root, python } : { root });
    this.openRoots.set(root, python);
    return opened;
  }

  async closeProject(id: string): Promise<void> {
    const closed = await this.sendRequest<{ id: string }>('project/close', { id });
    for (const root of this.openRoots.keys()) if (root === id || root === closed.id) this.openRoots.delete(root);
  }

  forgetRoot(root: string): void {
    this.openRoots.delete(root);
  }

  listProjects(): Promise<ProjectListEntry[]> {
    return this.sendRequest<ProjectListEntry[]>('project/list');
  }

  serverInfo(): Promise<ServerInfo> {
    return this.sendRequest<ServerInfo>('server/info');
  }

  runBuild(id: string): Promise<{ id: string; queued: boolean }> {
    return this.sendRequest('build/run', { id });
  }

  buildLog(id: string): Promise<BuildLog> {
    return this.sendRequest<BuildLog>('build/log', { id });
  }

  generations(id: string): Promise<GenerationEntry[]> {
    return this.sendRequest<GenerationEntry[]>('generation/list', { id });
  }

  requestReload(project: string): Promise<ReloadRequestResult> {
    return this.sendRequest<ReloadRequestResult>('reload/request', { project });
  }

  fileSaved(path: string): Promise<void> {
    return this.sendNotification('file/saved', { path });
  }

  /** Asks the daemon to exit and waits for it; the client stops (no reconnect). */
  async shutdownServer(): Promise<void> {
    const session = this.session;
    this.stopped = true;
    this.clearRetry();
    if (!session) return;
    try {
      await session.connection.sendRequest('shutdown');
    } catch (error) {
      this.log(`shutdown request failed: ${(error as Error).message}`);
    }
    await waitForExit(session.server.pid);
    if (this.session === session) this.onSocketClosed(session);
  }

  /** Asks the daemon to exit, waits for it, starts a new one and reconnects (reopening projects). */
  async restartServer(): Promise<ServerJson> {
    if (!this.options.serverPath) throw new Error('prestage.serverPath is needed to restart the server');
    this.suppressReconnect = true;
    this.clearRetry();
    try {
      const session = this.session ?? (await this.ensureConnected().catch(() => null));
      if (session) {
        const pid = session.server.pid;
        try {
          await session.connection.sendRequest('shutdown');
        } catch (error) {
          this.log(`shutdown request failed: ${(error as Error).message}`);
        }
        await waitForExit(pid);
      }
      if (this.session) this.onSocketClosed(this.session);
    } finally {
      this.suppressReconnect = false;
    }
    const session = await this.ensureConnected();
    return session.server;
  }
}
