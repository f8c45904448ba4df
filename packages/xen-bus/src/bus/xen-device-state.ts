import { trace } from '@vmkit/core';
import { parseXenbusState, XenbusState, xenbusStateName, type XenbusStateValue } from '../constants.js';
import { parseXenUint } from './frontend-keys.js';
import type { XenDevice } from './xen-device.js';

/** Runs `next` after `first`: synchronously when `first` is not a promise, so sync hooks stay sync. */
export function andThen(first: void | Promise<void>, next: () => void | Promise<void>): void | Promise<void> {
  return first instanceof Promise ? first.then(next) : next();
}

export interface StateMachineHooks {
  frontendChanged(state: XenbusStateValue): void | Promise<void>;
  report(what: string, e: unknown): void;
}

type WatchEvent = 'backend' | 'frontend';

/** States in which a frontend reacts to the backend's (xen_device_frontend_is_active). */
function frontendIsActive(state: XenbusStateValue): boolean {
  return (
    state === XenbusState.InitWait ||
    state === XenbusState.Initialised ||
    state === XenbusState.Connected ||
    state === XenbusState.Closing
  );
}

/**
 * The backend state machine of a XenDevice, driven by its watches. Events are handled one at a
 * time in arrival order, each re-reading the current xenstore values as QEMU's handlers do;
 * a hook that returns a promise holds the following events until it settles. Events that arrive
 * before start() (during realize) wait for it.
 */
export class XenDeviceStateMachine {
  backendState: XenbusStateValue = XenbusState.Unknown;
  frontendState: XenbusStateValue = XenbusState.Unknown;
  online = false;
  /** Offline and in a final state: the bus may destroy the device. */
  inactive = false;

  private readonly queue: WatchEvent[] = [];
  private started = false;
  private stopped = false;
  private running = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly device: XenDevice,
    private readonly hooks: StateMachineHooks,
  ) {}

  event(kind: WatchEvent): void {
    if (this.stopped) return;
    this.queue.push(kind);
    this.pump();
  }

  start(): void {
    this.started = true;
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.started = false;
    this.queue.length = 0;
    this.wakeIdle();
  }

  whenIdle(): Promise<void> {
    if (!this.running && (this.queue.length === 0 || !this.started)) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** xen_device_backend_set_state: writes `state` only when it changes. */
  setBackendState(state: XenbusStateValue): void {
    if (this.backendState === state) return;
    trace('xen-device', 'backend-state', { id: this.device.id, state: xenbusStateName(state) });
    this.backendState = state;
    this.device.writeBackend('state', state);
  }

  /** xen_device_backend_set_online. */
  setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    this.device.writeBackend('online', online ? 1 : 0);
  }

  /** xen_device_frontend_set_state: the backend publishes it only while creating the area. */
  setFrontendState(state: XenbusStateValue, publish: boolean): void {
    if (this.frontendState === state) return;
    trace('xen-device', 'frontend-state', { id: this.device.id, state: xenbusStateName(state) });
    this.frontendState = state;
    if (publish) this.device.writeFrontend('state', state);
  }

  private pump(): void {
    while (this.started && !this.running && this.queue.length > 0) {
      const kind = this.queue.shift()!;
      let result: void | Promise<void>;
      try {
        result = kind === 'backend' ? this.backendChanged() : this.frontendChanged();
      } catch (e) {
        this.hooks.report('frontend change error', e);
        continue;
      }
      if (result instanceof Promise) {
        this.running = true;
        void result
          .catch((e: unknown) => this.hooks.report('frontend change error', e))
          .finally(() => {
            this.running = false;
            this.pump();
          });
        return;
      }
    }
    if (!this.running && (this.queue.length === 0 || !this.started)) this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }

  // xen_device_backend_changed: follows what the toolstack (or an unplug request) wrote.
  private backendChanged(): void {
    const state = parseXenbusState(this.device.readBackend('state') ?? '') ?? XenbusState.Unknown;
    this.setBackendState(state);
    const online = (parseXenUint(this.device.readBackend('online')) ?? 0) !== 0;
    this.setOnline(online);

    // Closing with nobody at the other end to answer: close now.
    if (state === XenbusState.Closing && !frontendIsActive(this.frontendState)) {
      this.setBackendState(XenbusState.Closed);
    }

    // Offline and settled: a candidate for destruction by the bus. Re-writing the state fires
    // the bus's enumeration watch, which runs the cleanup.
    const final =
      state === XenbusState.Closed ||
      state === XenbusState.Initialising ||
      state === XenbusState.InitWait ||
      state === XenbusState.Unknown;
    if (!online && final && !this.inactive) {
      this.inactive = true;
      this.device.xenBus.markInactive(this.device);
      this.device.writeBackend('state', state);
    }
  }

  // xen_device_frontend_changed
  private frontendChanged(): void | Promise<void> {
    const state = parseXenbusState(this.device.readFrontend('state') ?? '') ?? XenbusState.Unknown;
    this.setFrontendState(state, false);
    // A frontend re-initialising after a close: offer the device again.
    if (state === XenbusState.Initialising && this.backendState === XenbusState.Closed && this.online) {
      this.setBackendState(XenbusState.InitWait);
      return;
    }
    return this.hooks.frontendChanged(state);
  }
}
