/**
 * The QMP monitor of one machine: the command registry, the sessions, and the events they receive
 * (monitor/monitor.c, monitor/qmp.c). Transports open sessions with `openSession`; the unix-socket
 * server in server.ts is one such transport. Commands run one at a time across all sessions, as
 * QEMU's single dispatcher does, so replies never interleave with another command's side effects.
 */
import type { Disposer, Machine } from '@vmkit/core';
import { QmpCommandRegistry, type QmpCommand } from './command.js';
import { builtinCommands } from './commands/index.js';
import { subscribeMachineEvents } from './events.js';
import { toQmpJson, type JsonStreamLimits } from './json/index.js';
import { QmpSession, type QmpSessionHost, type QmpTransport } from './session.js';

/** VersionInfo (query-version, and the greeting). */
export interface QmpVersionInfo {
  readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
  readonly package: string;
}

/** The `timestamp` member of events. */
export interface QmpTimestamp {
  readonly seconds: number;
  readonly microseconds: number;
}

/** An event as sent on the wire. */
export interface QmpEventMessage {
  readonly timestamp: QmpTimestamp;
  readonly event: string;
  readonly data?: object;
}

/**
 * Where event timestamps come from: `'wall'` (QEMU's choice: g_get_real_time, the Unix epoch),
 * `'machine'` (the machine's clock: deterministic under a VirtualClock), or a function.
 */
export type QmpTimestampSource = 'wall' | 'machine' | (() => QmpTimestamp);

/** ShutdownCause values the monitor reports (SHUTDOWN's `reason`). */
export type QmpShutdownCause = 'host-qmp-quit';

export interface QmpMonitorOptions {
  /** Reported by the greeting and query-version (default: QEMU 8.2.0, package "vmkit 0.1.0"). */
  readonly version?: QmpVersionInfo;
  /** Default: 'wall'. */
  readonly timestamps?: QmpTimestampSource;
  /** Commands to add after (or, with the same name, instead of) the built-in ones. */
  readonly commands?: readonly QmpCommand[];
  /** Called after `quit` answered, sent SHUTDOWN and closed every session. */
  readonly onQuit?: (monitor: QmpMonitor) => void | Promise<void>;
  /** Limits of the JSON input parser, per request. */
  readonly limits?: JsonStreamLimits;
}

export const DEFAULT_QMP_VERSION: QmpVersionInfo = Object.freeze({
  // QEMU's member order: micro, minor, major.
  qemu: Object.freeze({ micro: 0, minor: 2, major: 8 }),
  package: 'vmkit 0.1.0',
});

export class QmpMonitor {
  readonly machine: Machine;
  readonly commands = new QmpCommandRegistry();
  readonly version: QmpVersionInfo;
  readonly #sessions = new Set<QmpSession>();
  readonly #timestamps: QmpTimestampSource;
  readonly #onQuit: ((monitor: QmpMonitor) => void | Promise<void>) | undefined;
  readonly #host: QmpSessionHost;
  readonly #unsubscribe: Disposer;
  #queue: Promise<void> = Promise.resolve();
  #disposed = false;

  constructor(machine: Machine, options: QmpMonitorOptions = {}) {
    this.machine = machine;
    this.version = options.version ?? DEFAULT_QMP_VERSION;
    this.#timestamps = options.timestamps ?? 'wall';
    this.#onQuit = options.onQuit;
    for (const command of builtinCommands(machine)) this.commands.register(command);
    for (const command of options.commands ?? []) this.commands.replace(command);
    this.#host = {
      monitor: this,
      enqueue: (task) => this.#enqueue(task),
      closed: (session) => this.#sessions.delete(session),
      limits: options.limits,
    };
    this.#unsubscribe = subscribeMachineEvents(this, machine);
  }

  /** Open sessions, negotiated or not. */
  get sessions(): readonly QmpSession[] {
    return [...this.#sessions];
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** A new connection: the session is created in negotiation mode and the greeting sent. */
  openSession(transport: QmpTransport): QmpSession {
    if (this.#disposed) throw new Error('QMP monitor is disposed');
    const session = new QmpSession(this.#host, transport);
    this.#sessions.add(session);
    session.send({ QMP: { version: this.version, capabilities: [] } });
    return session;
  }

  /** The current event timestamp. */
  timestamp(): QmpTimestamp {
    const source = this.#timestamps;
    if (source === 'wall') {
      // Wall time has millisecond resolution in Node; deriving microseconds from the monotonic
      // clock would drift from the wall clock when the system time is adjusted.
      const ms = Date.now();
      return { seconds: Math.floor(ms / 1000), microseconds: (ms % 1000) * 1000 };
    }
    if (source !== 'machine') return source();
    const us = Math.floor(this.machine.clock.now() / 1000);
    return { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
  }

  /** monitor_qapi_event_emit: sends an event to every session that finished negotiation. */
  emitEvent(event: string, data?: object): void {
    const message: QmpEventMessage =
      data === undefined
        ? { timestamp: this.timestamp(), event }
        : { timestamp: this.timestamp(), event, data };
    const text = `${toQmpJson(message)}\r\n`;
    for (const session of this.#sessions) if (session.negotiated) session.sendRaw(text);
  }

  /**
   * What `quit` does once it answered: SHUTDOWN to every negotiated session, every session
   * closed, then the onQuit hook.
   */
  async shutdown(reason: QmpShutdownCause): Promise<void> {
    this.emitEvent('SHUTDOWN', { guest: false, reason });
    for (const session of [...this.#sessions]) session.close();
    await this.#onQuit?.(this);
  }

  /** Stops listening to the machine and closes every session. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unsubscribe();
    for (const session of [...this.#sessions]) session.close();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    // A failing task must not stop the queue; the failure stays visible to whoever awaits `run`.
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
