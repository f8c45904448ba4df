/** Deterministic event-loop helpers for device tests (no wall-clock waits). */
import type { AioContext } from '@vmkit/core';

/**
 * Runs `ctx`'s bottom halves (which include host-notifier dispatch) batch after batch until none
 * is scheduled; returns how many ran. Throws if work keeps rescheduling itself past `maxBatches`.
 */
export function runBottomHalves(ctx: AioContext, maxBatches = 10_000): number {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = ctx.poll();
    if (n === 0) return total;
    total += n;
  }
  throw new Error(`runBottomHalves: still busy after ${maxBatches} batches`);
}

/** Runs bottom halves of every context given until all are idle. */
export function runAllBottomHalves(contexts: readonly AioContext[], maxRounds = 10_000): number {
  let total = 0;
  for (let i = 0; i < maxRounds; i++) {
    let n = 0;
    for (const ctx of contexts) n += ctx.poll();
    if (n === 0) return total;
    total += n;
  }
  throw new Error(`runAllBottomHalves: still busy after ${maxRounds} rounds`);
}
