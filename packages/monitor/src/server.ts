/**
 * A QMP server on a unix socket (QEMU's `-qmp unix:path,server=on,wait=off`), on Node's `net`:
 * every connection gets its own session of one monitor. A stale socket file at `path` is replaced,
 * as QEMU does; `close()` stops listening, closes the connections and removes the socket file.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { Machine } from '@vmkit/core';
import { QmpMonitor, type QmpMonitorOptions } from './monitor.js';

export type QmpServerOptions = QmpMonitorOptions;

export class QmpServer {
  readonly monitor: QmpMonitor;
  readonly path: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #ownsMonitor: boolean;
  #closing: Promise<void> | undefined;

  private constructor(monitor: QmpMonitor, path: string, ownsMonitor: boolean) {
    this.monitor = monitor;
    this.path = path;
    this.#ownsMonitor = ownsMonitor;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /**
   * Listens on `path` for `machine` (a new monitor with `options`) or for an existing monitor.
   * With a new monitor, `quit` also closes the server before calling `options.onQuit`.
   */
  static async listen(
    target: Machine | QmpMonitor,
    path: string,
    options: QmpServerOptions = {},
  ): Promise<QmpServer> {
    const created: { server?: QmpServer } = {};
    const monitor =
      target instanceof QmpMonitor
        ? target
        : new QmpMonitor(target, {
            ...options,
            onQuit: async (m) => {
              await created.server?.close();
              await options.onQuit?.(m);
            },
          });
    const server = new QmpServer(monitor, path, !(target instanceof QmpMonitor));
    created.server = server;
    removeStaleSocket(path);
    try {
      await new Promise<void>((resolve, reject) => {
        server.#server.once('error', reject);
        server.#server.listen(path, () => {
          server.#server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      if (server.#ownsMonitor) monitor.dispose();
      throw e;
    }
    return server;
  }

  /** Connections currently open. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops listening, closes every connection (and the monitor this server created), unlinks the socket. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    if (this.#ownsMonitor) this.monitor.dispose();
    await closed;
    removeStaleSocket(this.path);
  }

  #accept(socket: Socket): void {
    if (this.#closing !== undefined || this.monitor.disposed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const session = this.monitor.openSession({
      write: (text) => {
        if (!socket.destroyed) socket.write(text);
      },
      close: () => socket.end(),
    });
    socket.on('data', (chunk: Buffer) => session.receive(chunk));
    // A reset connection is just a client gone; there is nobody to report it to.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#sockets.delete(socket);
      session.disconnected();
    });
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Nothing there (or not ours to remove): listen() reports any real problem.
  }
}
