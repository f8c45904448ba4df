import type { DeviceInfo } from './device.js';
import type { StopReason } from './run-state.js';

/**
 * A small typed event emitter. Event maps are interfaces of tuples (`{ stop: [reason: StopReason] }`)
 * so plugins can add events to `MachineEvents` by declaration merging.
 */

/** Constraint for event maps: each event name maps to its argument tuple. */
export type EventMap<E> = { [K in keyof E]: readonly unknown[] };

export type Listener<A extends readonly unknown[]> = (...args: A) => void;

/** A disposer returned by subscriptions; calling it twice is harmless. */
export type Disposer = () => void;

export class TypedEmitter<E extends EventMap<E>> {
  readonly #listeners = new Map<keyof E, Listener<E[keyof E]>[]>();

  /** Subscribes; returns a disposer that unsubscribes this listener. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): Disposer {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as Listener<E[keyof E]>);
    this.#listeners.set(event, list);
    return () => this.off(event, listener);
  }

  /** Subscribes for the next emission only. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): Disposer {
    const dispose = this.on(event, (...args: E[K]) => {
      dispose();
      listener(...args);
    });
    return dispose;
  }

  /** Removes one registration of `listener` (the most recent, like Node's EventEmitter). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    const list = this.#listeners.get(event);
    if (!list) return;
    const i = list.lastIndexOf(listener as Listener<E[keyof E]>);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#listeners.delete(event);
  }

  /**
   * Calls the listeners in subscription order, on a snapshot (a listener added during emission is not
   * called for it). A throwing listener propagates to the emitter, as with Node's EventEmitter.
   * Returns whether any listener was called.
   */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list) return false;
    for (const listener of [...list]) (listener as Listener<E[K]>)(...args);
    return true;
  }

  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.length ?? 0;
  }
}

/** QEMU's BLOCK_IO_ERROR event, emitted by the block layer when an error action applies. */
export interface BlockIoErrorEvent {
  /** The BlockBackend's name or its device's id ('' when neither). */
  readonly device: string;
  readonly nodeName: string;
  readonly operation: 'read' | 'write';
  readonly action: 'ignore' | 'report' | 'stop';
  /** The error was ENOSPC. */
  readonly nospace: boolean;
  /** Positive errno. */
  readonly errno: number;
  /** strerror text. */
  readonly reason: string;
}

/** A device or object that was added or deleted (DEVICE_DELETED carries the same). */
export interface EntityEvent {
  readonly id: string;
  readonly type: string;
}

/** Events of `machine.events`; plugins may add their own by declaration merging. */
export interface MachineEvents {
  stop: [reason: StopReason];
  resume: [];
  reset: [];
  'device-added': [device: DeviceInfo];
  'device-deleted': [event: EntityEvent];
  'object-added': [event: EntityEvent];
  'object-deleted': [event: EntityEvent];
  'block-io-error': [event: BlockIoErrorEvent];
}
