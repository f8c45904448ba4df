/**
 * A vhost-user socket serving one VirtioDevice (like `qemu-storage-daemon --export
 * vhost-user-blk`): QEMU connects to `path`; one front-end is served at a time, and each new
 * one finds the device freshly reset. A front-end that connects while another is being served
 * is closed with a logged reason (after one event-loop turn, so that a QEMU restarting in the
 * same instant as the old connection's end is not refused).
 */
import { ConfigError, TypedEmitter, type AioContext } from '@vmkit/core';
import type { VirtioDevice } from '@vmkit/virtio';
import type { UnixConnection } from '../unix-connection.js';
import { UnixListener } from '../unix-listener.js';
import { osStrerror } from '../os-error.js';
import { VhostUserBackend, type VhostUserCloseInfo } from './vhost-user-backend.js';

export interface VhostUserServerOptions {
  /** Socket path (a stale socket file there is replaced). */
  readonly path: string;
  readonly device: VirtioDevice;
  /** Transport context for the device (default: the main context). */
  readonly context?: AioContext;
  /** Where one-line reports go; default console.error. */
  readonly log?: (line: string) => void;
  /** Name in log lines (default `vhost-user <device name>`). */
  readonly name?: string;
  /** listen(2) backlog. */
  readonly backlog?: number;
}

export interface VhostUserConnectEvent {
  /** 1 for the first front-end served, then 2, ... */
  readonly client: number;
}

export interface VhostUserDisconnectEvent extends VhostUserCloseInfo {
  readonly client: number;
  /** Messages handled on that connection. */
  readonly messages: number;
}

export interface VhostUserRejectEvent {
  readonly reason: string;
}

export interface VhostUserServerEvents {
  connect: [event: VhostUserConnectEvent];
  disconnect: [event: VhostUserDisconnectEvent];
  reject: [event: VhostUserRejectEvent];
  /** The listener failed and the server stopped accepting. */
  error: [reason: string];
}

export class VhostUserServer extends TypedEmitter<VhostUserServerEvents> {
  readonly device: VirtioDevice;
  readonly name: string;
  private readonly listener: UnixListener;
  private readonly options: VhostUserServerOptions;
  private readonly log: (line: string) => void;
  private active: { backend: VhostUserBackend; client: number } | null = null;
  private clients = 0;
  private lastDisconnect: VhostUserDisconnectEvent | null = null;
  private closing = false;
  private readonly accepting: Promise<void>;

  private constructor(options: VhostUserServerOptions) {
    super();
    if (options.device.transport !== null) {
      throw new ConfigError(
        `${options.device.name}: already plugged into a transport; vhost-user needs it to itself`,
      );
    }
    this.options = options;
    this.device = options.device;
    this.name = options.name ?? `vhost-user ${options.device.name}`;
    const sink = options.log ?? ((line: string) => console.error(line));
    this.log = sink;
    this.listener = UnixListener.listen(options.path, { backlog: options.backlog });
    this.accepting = this.acceptLoop();
  }

  /** Listens on `options.path`; throws an OsError if it cannot. */
  static listen(options: VhostUserServerOptions): VhostUserServer {
    return new VhostUserServer(options);
  }

  get path(): string {
    return this.listener.path;
  }

  /** The back-end of the front-end being served, if any. */
  get backend(): VhostUserBackend | null {
    return this.active?.backend ?? null;
  }

  /** Front-ends served so far. */
  get clientCount(): number {
    return this.clients;
  }

  /** One line for a daemon's status output. */
  statusLine(): string {
    const prefix = `${this.name} on ${this.path}`;
    if (this.closing) return `${prefix}: closed`;
    const active = this.active;
    if (active !== null)
      return `${prefix}: client #${active.client} connected, ${active.backend.statusLine()}`;
    const last = this.lastDisconnect;
    const since = last === null ? '' : ` (client #${last.client} left: ${last.reason})`;
    return `${prefix}: waiting for a front-end${since}`;
  }

  /** Stops listening and closes the current connection (the device is reset). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.listener.close();
    const active = this.active;
    if (active !== null) {
      active.backend.close('server closed');
      await active.backend.closed;
    }
    await this.accepting;
  }

  private async acceptLoop(): Promise<void> {
    for (;;) {
      const conn = await this.listener.accept();
      if (typeof conn === 'number') {
        if (this.closing) return;
        const reason = `accepting connections failed: ${osStrerror(conn)}`;
        this.log(`${this.name}: ${reason}`);
        this.emit('error', reason);
        return;
      }
      this.admit(conn).catch((e: unknown) => {
        this.log(`${this.name}: serving a front-end failed: ${e instanceof Error ? e.message : String(e)}`);
        conn.close();
      });
    }
  }

  private async admit(conn: UnixConnection): Promise<void> {
    if (this.active !== null) {
      // Let an old connection whose end is already pending finish first.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (this.closing || this.active !== null) {
      const reason = this.closing
        ? 'server closing'
        : `another front-end (client #${this.active!.client}) is connected; one is served at a time`;
      this.log(`${this.name}: refused a front-end: ${reason}`);
      conn.close();
      this.emit('reject', { reason });
      return;
    }
    const backend = new VhostUserBackend(conn, {
      device: this.device,
      context: this.options.context,
      log: this.log,
      name: this.name,
    });
    const client = ++this.clients;
    this.active = { backend, client };
    this.log(`${this.name}: client #${client} connected`);
    this.emit('connect', { client });
    const info = await backend.serve();
    this.active = null;
    const event: VhostUserDisconnectEvent = { ...info, client, messages: backend.status.messages };
    this.lastDisconnect = event;
    this.emit('disconnect', event);
  }
}
