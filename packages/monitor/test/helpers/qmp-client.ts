/**
 * A deliberately raw QMP client for tests: it writes bytes exactly as given (so tests can split,
 * concatenate and corrupt requests) and parses the server's CRLF-terminated messages with
 * JSON.parse, an independent parser from the monitor's own.
 */
import { connect, type Socket } from 'node:net';

export type QmpMessage = Record<string, unknown>;

interface Waiter {
  readonly match: (m: QmpMessage) => boolean;
  readonly resolve: (m: QmpMessage) => void;
}

export const isResponse = (m: QmpMessage): boolean => 'return' in m || 'error' in m;

export class RawQmpClient {
  /** Everything received, in order. */
  readonly received: QmpMessage[] = [];
  /** The raw text received. */
  text = '';
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #unread: QmpMessage[] = [];
  readonly #waiters: Waiter[] = [];
  #buffer = '';

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#data(chunk));
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(path: string): Promise<RawQmpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawQmpClient(socket));
      });
    });
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async negotiated(path: string): Promise<RawQmpClient> {
    const client = await RawQmpClient.connect(path);
    await client.greeting();
    const reply = await client.execute('qmp_capabilities');
    if (!('return' in reply)) throw new Error(`negotiation failed: ${JSON.stringify(reply)}`);
    return client;
  }

  #data(chunk: string): void {
    this.text += chunk;
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\r\n')) >= 0) {
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const message = JSON.parse(line) as QmpMessage;
      this.received.push(message);
      const i = this.#waiters.findIndex((w) => w.match(message));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(message);
      else this.#unread.push(message);
    }
  }

  /** Sends bytes as they are. */
  write(data: string | Uint8Array): void {
    this.#socket.write(data);
  }

  /** The first unread message matching `match` (waiting for it if needed). */
  take(match: (m: QmpMessage) => boolean): Promise<QmpMessage> {
    const i = this.#unread.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#unread.splice(i, 1)[0]);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  greeting(): Promise<QmpMessage> {
    return this.take((m) => 'QMP' in m);
  }

  response(): Promise<QmpMessage> {
    return this.take(isResponse);
  }

  event(name: string): Promise<QmpMessage> {
    return this.take((m) => m.event === name);
  }

  /** Events not read yet. */
  unreadEvents(): QmpMessage[] {
    return this.#unread.filter((m) => 'event' in m);
  }

  /** Sends a request built from the arguments and returns its response. */
  execute(command: string, args?: Record<string, unknown>, id?: unknown): Promise<QmpMessage> {
    const request: Record<string, unknown> = { execute: command };
    if (args !== undefined) request.arguments = args;
    if (id !== undefined) request.id = id;
    this.write(`${JSON.stringify(request)}\n`);
    return this.response();
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
