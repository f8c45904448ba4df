import type { Clock } from '@vmkit/core';
import { BLOCK_MAX_IOTYPE } from './acct-type.js';
import { TimedAverage } from './timed-average.js';

const NS_PER_SECOND = 1_000_000_000;

/**
 * Latency statistics over one stats interval (QEMU `BlockAcctTimedStats`): one TimedAverage per
 * accounting type, indexed by `BlockAcctType`.
 */
export class BlockAcctTimedStats {
  /** Interval length in seconds, as configured (`stats-intervals`). */
  readonly intervalLength: number;
  readonly latency: readonly TimedAverage[];

  constructor(clock: Clock, intervalLengthSeconds: number) {
    this.intervalLength = intervalLengthSeconds;
    const latency: TimedAverage[] = [];
    for (let i = 0; i < BLOCK_MAX_IOTYPE; i++) {
      latency.push(new TimedAverage(clock, intervalLengthSeconds * NS_PER_SECOND));
    }
    this.latency = latency;
  }
}
