// vscode-jsonrpc MessageReader/MessageWriter over a `ws` WebSocket: one text frame is one JSON-RPC message.
import {
  AbstractMessageReader,
  AbstractMessageWriter,
  DataCallback,
  Disposable,
  Message,
  MessageReader,
  MessageWriter,
} from 'vscode-jsonrpc';
import WebSocket from 'ws';

export class WebSocketMessageReader extends AbstractMessageReader implements MessageReader {
  private callback: DataCallback | undefined;
  private readonly pending: Message[] = [];

  constructor(socket: WebSocket) {
    super();
    socket.on('message', (data: WebSocket.RawData) => this.handleFrame(data));
    socket.on('error', (error: Error) => this.fireError(error));
    socket.on('close', () => this.fireClose());
  }

  listen(callback: DataCallback): Disposable {
    this.callback = callback;
    for (const message of this.pending.splice(0)) callback(message);
    return Disposable.create(() => { this.callback = undefined; });
  }

  private handleFrame(data: WebSocket.RawData): void {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.fireError(new Error(`prestaged sent a WebSocket frame that is not JSON: ${text.slice(0, 200)}`));
      return;
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (this.callback) this.callback(message as Message);
      else this.pending.push(message as Message);
    }
  }
}

export class WebSocketMessageWriter extends AbstractMessageWriter implements MessageWriter {
  private errorCount = 0;

  constructor(private readonly socket: WebSocket) {
    super();
  }

  write(message: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.readyState !== WebSocket.OPEN) {
        const error = new Error('WebSocket to prestaged is not open');
        this.fireError(error, message, ++this.errorCount);
        reject(error);
        return;
      }
      this.socket.send(JSON.stringify(message), (error?: Error) => {
        if (error) {
          this.fireError(error, message, ++this.errorCount);
          reject(error);
        } else {
          this.errorCount = 0;
          resolve();
        }
      });
    });
  }

  end(): void {
    this.socket.close();
  }
}

/** Opens ws://127.0.0.1:PORT/rpc with the bearer token (no Origin header, as the daemon requires). */
export function openRpcSocket(port: number, token: string, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/rpc`, {
      headers: { Authorization: `Bearer ${token}` },
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
    });
    const onError = (error: Error) => { cleanup(); reject(error); };
    const onUnexpected = (_request: unknown, response: { statusCode?: number }) => {
      cleanup();
      socket.terminate();
      reject(new Error(`prestaged refused the WebSocket upgrade on port ${port}: HTTP ${response.statusCode}`));
    };
    const onOpen = () => { cleanup(); resolve(socket); };
    const cleanup = () => {
      socket.off('error', onError);
      socket.off('open', onOpen);
      socket.off('unexpected-response', onUnexpected);
    };
    socket.on('error', onError);
    socket.on('open', onOpen);
    socket.on('unexpected-response', onUnexpected);
  });
}
