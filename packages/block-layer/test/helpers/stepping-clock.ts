import type { Clock } from '@vmkit/core';

/** A host-kind clock advancing by `step` ns per reading and counting its readings (no timers). */
export class SteppingClock implements Clock {
  readonly kind = 'host' as const;
  t = 1_000_000;
  reads = 0;
  constructor(public step: number) {}
  now(): number {
    this.reads++;
    return (this.t += this.step);
  }
  createTimer(): never {
    throw new Error('no timers');
  }
}

/** Resolves after the microtasks queued before it. */
export const microtask = (): Promise<void> => Promise.resolve();
