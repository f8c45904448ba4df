/**
 * Run state (QEMU's runstate + vm state change handlers, reduced to running/paused). Devices
 * register handlers to quiesce on stop and restart work on resume: virtio-blk retries the requests
 * a werror=stop action kept.
 */

import type { Disposer } from './events.js';

export type RunState = 'running' | 'paused';

/** Why the machine stopped: by request, or by a block error action `stop`/`enospc`. */
export type StopReason = 'user' | 'io-error';

/** qemu_add_vm_change_state_handler's callback: reason is set when stopping. */
export type RunStateHandler = (running: boolean, reason: StopReason | undefined) => void;

export class RunStateTracker {
  #state: RunState = 'running';
  #reason: StopReason | undefined;
  readonly #handlers: RunStateHandler[] = [];

  get state(): RunState {
    return this.#state;
  }

  /** Why the machine is paused; undefined while running. */
  get reason(): StopReason | undefined {
    return this.#reason;
  }

  add(handler: RunStateHandler): Disposer {
    this.#handlers.push(handler);
    return () => {
      const i = this.#handlers.indexOf(handler);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  /**
   * Changes state and notifies the handlers: in registration order when starting, in reverse order
   * when stopping (vm_state_notify), so what started last stops first. False if already there.
   */
  transition(running: boolean, reason: StopReason | undefined): boolean {
    if ((this.#state === 'running') === running) return false;
    this.#state = running ? 'running' : 'paused';
    this.#reason = running ? undefined : reason;
    const handlers = running ? [...this.#handlers] : [...this.#handlers].reverse();
    for (const handler of handlers) handler(running, this.#reason);
    return true;
  }
}
