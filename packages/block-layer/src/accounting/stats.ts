import { ConfigError, type Clock } from '@vmkit/core';
import { BLOCK_MAX_IOTYPE, BlockAcctType } from './acct-type.js';
import type { BlockAcctCookie } from './cookie.js';
import { BlockLatencyHistogram } from './latency-histogram.js';
import { BlockAcctTimedStats } from './timed-stats.js';
import { CoarseHostTime } from './coarse-time.js';

/** QAPI OnOffAuto, as taken by the `account-invalid` / `account-failed` options. */
export type OnOffAuto = 'on' | 'off' | 'auto';

export interface BlockAcctStatsOptions {
  /**
   * When set, every completed (done or failed) operation counts exactly this latency instead of
   * the measured one: QEMU's qtest rule, `QTEST_LATENCY_NS` (1 ms) for iotest 136.
   */
  readonly fixedLatencyNs?: number;
}

/** Device/drive options applied by `setup()` (block_acct_setup). */
export interface BlockAcctSetup {
  /** 'auto' (default) keeps the current value, which starts as true. */
  readonly accountInvalid?: OnOffAuto;
  readonly accountFailed?: OnOffAuto;
  /** `stats-intervals`: lengths in seconds, each an integer in 1..2^32-1. */
  readonly statsIntervals?: readonly number[];
}

const UINT32_MAX = 0xffff_ffff;

function fromOnOffAuto(v: OnOffAuto | undefined, current: boolean): boolean {
  return v === 'on' ? true : v === 'off' ? false : current;
}

/**
 * Per-BlockBackend I/O statistics (QEMU `BlockAcctStats`, block/accounting.c).
 *
 * Device models account their requests: `start()` when a request is submitted, then exactly one
 * of `done()` / `failed()` on completion; `invalid()` for requests refused before any I/O;
 * `mergeDone()` when requests were merged. Counters are per `BlockAcctType` index and are meant
 * to be read, not written, by users.
 *
 * Times come from the injected clock (QEMU uses REALTIME, or VIRTUAL under qtest). On the host
 * clock, start() and done()/failed() read it through CoarseHostTime (see there).
 */
export class BlockAcctStats {
  readonly clock: Clock;
  /** Fixed per-op latency (qtest rule), or undefined to measure latencies on the clock. */
  readonly fixedLatencyNs: number | undefined;

  /** Whether invalid requests update the last access time. Default true (block_acct_init). */
  accountInvalid = true;
  /** Whether failed requests update total time, last access time and the intervals. Default true. */
  accountFailed = true;
  /** Clock time of the last accounted access; 0 until the first one. */
  lastAccessTimeNs = 0;

  /** Bytes of successful operations, per type. */
  readonly nrBytes = new Float64Array(BLOCK_MAX_IOTYPE);
  /** Successful operations, per type. */
  readonly nrOps = new Float64Array(BLOCK_MAX_IOTYPE);
  /** Operations refused before any I/O, per type. */
  readonly invalidOps = new Float64Array(BLOCK_MAX_IOTYPE);
  /** Failed operations, per type. */
  readonly failedOps = new Float64Array(BLOCK_MAX_IOTYPE);
  /** Sum of the latencies of accounted operations, per type, in ns. */
  readonly totalTimeNs = new Float64Array(BLOCK_MAX_IOTYPE);
  /** Requests merged into another request, per type. */
  readonly merged = new Float64Array(BLOCK_MAX_IOTYPE);
  /** One latency histogram per type (disabled until boundaries are set). */
  readonly latencyHistograms: readonly BlockLatencyHistogram[];

  /** Stats intervals, most recently added first (QEMU prepends to its list). */
  private readonly timed: BlockAcctTimedStats[] = [];
  /** Per-request time source: the clock itself, or a coarse reader of the host clock. */
  private readonly hotClock: { now(): number };
  /**
   * Whether completions feed anything beyond the counters (an interval or an enabled histogram).
   * Devices have neither unless configured, so done() is then a few typed-array updates.
   */
  private extras = false;

  constructor(clock: Clock, options: BlockAcctStatsOptions = {}) {
    const fixed = options.fixedLatencyNs;
    if (fixed !== undefined && (!Number.isSafeInteger(fixed) || fixed < 0)) {
      throw new ConfigError(`fixedLatencyNs must be a non-negative integer, got ${fixed}`);
    }
    this.clock = clock;
    this.hotClock = clock.kind === 'host' ? new CoarseHostTime(clock) : clock;
    this.fixedLatencyNs = fixed;
    const hists: BlockLatencyHistogram[] = [];
    const onChange = (): void => this.updateExtras();
    for (let i = 0; i < BLOCK_MAX_IOTYPE; i++) hists.push(new BlockLatencyHistogram(onChange));
    this.latencyHistograms = hists;
  }

  /** The stats intervals, most recently added first (the order of QEMU's list). */
  get intervals(): readonly BlockAcctTimedStats[] {
    return this.timed;
  }

  /**
   * block_acct_setup(): apply the account-invalid/account-failed options and add the requested
   * intervals. Throws ConfigError `Invalid interval length: N` before changing anything when an
   * interval is not a positive uint32.
   */
  setup(config: BlockAcctSetup): void {
    const intervals = config.statsIntervals ?? [];
    for (const len of intervals) {
      if (!Number.isInteger(len) || len <= 0 || len > UINT32_MAX) {
        throw new ConfigError(`Invalid interval length: ${len}`);
      }
    }
    this.accountInvalid = fromOnOffAuto(config.accountInvalid, this.accountInvalid);
    this.accountFailed = fromOnOffAuto(config.accountFailed, this.accountFailed);
    for (const len of intervals) this.addInterval(len);
  }

  /** block_acct_add_interval(): start collecting latencies over a new interval of `seconds`. */
  addInterval(seconds: number): BlockAcctTimedStats {
    if (!Number.isInteger(seconds) || seconds <= 0 || seconds > UINT32_MAX) {
      throw new ConfigError(`Invalid interval length: ${seconds}`);
    }
    const ts = new BlockAcctTimedStats(this.clock, seconds);
    this.timed.unshift(ts);
    this.extras = true;
    return ts;
  }

  /** block_acct_start(): fill `cookie` (owned by the request, reused) for a request of `bytes`. */
  start(cookie: BlockAcctCookie, bytes: number, type: BlockAcctType): void {
    cookie.bytes = bytes;
    cookie.startTimeNs = this.hotClock.now();
    cookie.type = type;
  }

  /** block_acct_done(): the request completed successfully. */
  done(cookie: BlockAcctCookie): void {
    this.accountOne(cookie, false);
  }

  /** block_acct_failed(): the request completed with an error. */
  failed(cookie: BlockAcctCookie): void {
    this.accountOne(cookie, true);
  }

  /**
   * block_acct_invalid(): a request of `type` was refused before reaching the block layer. There
   * was no I/O, so no latency and no total time; only the last access time (if accountInvalid).
   */
  invalid(type: BlockAcctType): void {
    this.invalidOps[type]++;
    // The hot clock, so that the last access time never goes back when a completion follows.
    if (this.accountInvalid) this.lastAccessTimeNs = this.hotClock.now();
  }

  /** block_acct_merge_done(): `count` requests of `type` were merged into others. */
  mergeDone(type: BlockAcctType, count: number): void {
    this.merged[type] += count;
  }

  /** block_acct_idle_time_ns(): time since the last accounted access. */
  idleTimeNs(): number {
    return this.clock.now() - this.lastAccessTimeNs;
  }

  /**
   * block_acct_queue_depth(): average number of requests of `type` in flight over the current
   * window of `interval`: the sum of their latencies divided by the time the window covers.
   */
  queueDepth(interval: BlockAcctTimedStats, type: BlockAcctType): number {
    const ta = interval.latency[type];
    return ta.sum() / ta.elapsedNs();
  }

  /**
   * block_latency_histogram_set(): boundaries in ns, non-empty and strictly increasing from
   * above 0. Returns 0, or -EINVAL leaving the histogram as it was. Bins are reset to 0.
   */
  setLatencyHistogram(type: BlockAcctType, boundariesNs: readonly number[]): number {
    return this.latencyHistograms[type].set(boundariesNs);
  }

  /** block_latency_histograms_clear(): disable the histograms of every type. */
  clearLatencyHistograms(): void {
    for (const h of this.latencyHistograms) h.clear();
  }

  /** Recomputes `extras` after a histogram was set or cleared. */
  private updateExtras(): void {
    this.extras = this.timed.length > 0 || this.latencyHistograms.some((h) => h.enabled);
  }

  /**
   * block_account_one_io(): allocation-free; the cookie is disarmed so it counts only once.
   * Without intervals or histograms (the default) it only updates counters.
   */
  private accountOne(cookie: BlockAcctCookie, failed: boolean): void {
    const type = cookie.type;
    if (type === BlockAcctType.NONE) return;
    cookie.type = BlockAcctType.NONE;
    const now = this.hotClock.now();
    const latency = this.fixedLatencyNs ?? now - cookie.startTimeNs;

    if (failed) {
      this.failedOps[type]++;
      if (!this.accountFailed) {
        // The histogram counts failed requests whatever accountFailed says.
        if (this.extras) this.latencyHistograms[type].account(latency);
        return;
      }
    } else {
      this.nrBytes[type] += cookie.bytes;
      this.nrOps[type]++;
    }
    this.totalTimeNs[type] += latency;
    this.lastAccessTimeNs = now;
    if (this.extras) this.accountExtras(type, latency, now);
  }

  /** The histogram and interval part of block_account_one_io(), for an accounted request. */
  private accountExtras(type: BlockAcctType, latency: number, now: number): void {
    this.latencyHistograms[type].account(latency);
    const timed = this.timed;
    for (let i = 0; i < timed.length; i++) timed[i].latency[type].accountAt(latency, now);
  }
}
