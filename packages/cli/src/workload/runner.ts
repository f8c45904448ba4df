/**
 * Runs one job on one guest disk the way fio does: `iodepth` requests kept in flight, each slot
 * issuing its next request as soon as the previous one completes, until the runtime or the
 * io_size budget is used up or the job is stopped; then the in-flight requests drain and one
 * flush goes to the device. Time comes from the machine's clock (a VirtualClock in tests).
 */
import type { Clock, ClockTimer } from '@vmkit/core';
import type { JobSpec } from '../config/types.js';
import { crc32c } from './crc32c.js';
import type { GuestDisk } from './guest-disk.js';
import { OffsetGenerator, type IoDirection } from './offsets.js';
import { fillBlock } from './pattern.js';
import { VerifyMap } from './verify-map.js';

/**
 * How long the requests in flight may take to complete once the job stopped, before the job
 * gives up on them (a device that lost a request must not hang the run).
 */
export const DRAIN_TIMEOUT_NS = 10e9;

/** Why a job stopped issuing requests. */
export type StopReason = 'runtime' | 'io_size' | 'interrupted' | 'error';

/** What the guest side saw (the device side is in the BlockBackend's accounting). */
export interface GuestCounters {
  reads: number;
  writes: number;
  readBytes: number;
  writeBytes: number;
  /** Requests answered with an error status. */
  ioErrors: number;
  inFlight: number;
}

/** The job's region once the disk's capacity is known. */
export interface JobRegion {
  readonly offset: number;
  readonly size: number;
  readonly blocks: number;
  /** Bytes to transfer; Infinity when only the runtime limits the job. */
  readonly ioSize: number;
}

/** Resolves a job's region on a disk; throws with the rule when it does not fit. */
export function jobRegion(job: JobSpec, disk: GuestDisk): JobRegion {
  if (job.bs % disk.blockSize !== 0) {
    throw new RangeError(
      `bs ${job.bs} is not a multiple of the disk's logical block size (${disk.blockSize})`,
    );
  }
  if (job.offset >= disk.capacity) {
    throw new RangeError(`offset ${job.offset} is beyond the end of the disk (${disk.capacity} bytes)`);
  }
  const size = job.size ?? disk.capacity - job.offset;
  if (job.offset + size > disk.capacity) {
    throw new RangeError(
      `offset + size (${job.offset + size}) is beyond the end of the disk (${disk.capacity} bytes)`,
    );
  }
  const blocks = Math.floor(size / job.bs);
  if (blocks === 0)
    throw new RangeError(`the region (${size} bytes) is smaller than one block (bs ${job.bs})`);
  // fio: without runtime and io_size, one pass over the region.
  const ioSize = job.ioSize ?? (job.runtimeNs === undefined ? blocks * job.bs : Infinity);
  return { offset: job.offset, size, blocks, ioSize };
}

export class JobRunner {
  readonly region: JobRegion;
  readonly counters: GuestCounters = {
    reads: 0,
    writes: 0,
    readBytes: 0,
    writeBytes: 0,
    ioErrors: 0,
    inFlight: 0,
  };
  readonly verify: VerifyMap | null;
  /** Status of the final flush (undefined until it ran). */
  flushStatus: number | undefined;
  stopReason: StopReason | undefined;
  /** A driver failure that stopped the job (not an error status: those are counted). */
  failure: Error | undefined;
  /** Clock times of the start and of the end (after the flush); undefined until then. */
  startNs: number | undefined;
  endNs: number | undefined;
  private readonly gen: OffsetGenerator;
  private readonly busy = new Set<number>();
  private readonly depth: number;
  private budget: number;
  private generation = 0;
  private timer: ClockTimer | null = null;
  private drainTimer: ClockTimer | null = null;
  private running: Promise<void> | null = null;
  private abandon: (() => void) | null = null;
  private started = false;

  constructor(
    readonly job: JobSpec,
    readonly disk: GuestDisk,
    private readonly clock: Clock,
  ) {
    this.region = jobRegion(job, disk);
    this.verify = job.verify === 'crc32c' ? new VerifyMap() : null;
    this.gen = new OffsetGenerator(job.rw, job.rwmixread, this.region.blocks, job.randseed);
    // Fewer slots than blocks, so a slot always finds a block no other slot is using.
    this.depth = Math.max(1, Math.min(job.iodepth, this.region.blocks - 1));
    this.budget = this.region.ioSize;
  }

  get stopping(): boolean {
    return this.stopReason !== undefined;
  }

  /** Nanoseconds since the job started (to its end once finished). */
  get elapsedNs(): number {
    if (this.startNs === undefined) return 0;
    return (this.endNs ?? this.clock.now()) - this.startNs;
  }

  /**
   * Starts the job; resolves once it drained and flushed, or DRAIN_TIMEOUT_NS after it stopped
   * with requests still unanswered (then `failure` says so).
   */
  run(): Promise<void> {
    if (this.running === null) {
      const abandoned = new Promise<void>((resolve) => (this.abandon = resolve));
      this.started = true;
      this.running = Promise.race([this.execute(), abandoned]).finally(() => this.drainTimer?.cancel());
    }
    return this.running;
  }

  /** Stops issuing requests (the ones in flight complete, then the flush runs). */
  stop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.timer?.cancel();
    if (this.started) {
      this.drainTimer = this.clock.createTimer(this.drainTimeout);
      this.drainTimer.arm(this.clock.now() + DRAIN_TIMEOUT_NS);
    }
  }

  private readonly drainTimeout = (): void => {
    const n = this.counters.inFlight;
    this.failure ??= new Error(
      n > 0
        ? `${n} request${n === 1 ? '' : 's'} still unanswered ${DRAIN_TIMEOUT_NS / 1e9} s after the job stopped`
        : `the final flush was still unanswered ${DRAIN_TIMEOUT_NS / 1e9} s after the job stopped`,
    );
    this.endNs ??= this.clock.now();
    this.abandon?.();
  };

  private async execute(): Promise<void> {
    const start = this.clock.now();
    this.startNs = start;
    if (this.job.runtimeNs !== undefined) {
      this.timer = this.clock.createTimer(() => this.stop('runtime'));
      this.timer.arm(start + this.job.runtimeNs);
    }
    const slots: Promise<void>[] = [];
    for (let i = 0; i < this.depth; i++) slots.push(this.slot().catch((e: unknown) => this.fail(e)));
    await Promise.all(slots);
    this.timer?.cancel();
    if (this.failure === undefined) {
      try {
        this.flushStatus = await this.disk.flush();
        if (this.flushStatus !== 0) this.counters.ioErrors++;
      } catch (e) {
        this.fail(e);
      }
    }
    this.endNs ??= this.clock.now();
  }

  private fail(e: unknown): void {
    this.failure ??= e instanceof Error ? e : new Error(String(e));
    this.stop('error');
  }

  private async slot(): Promise<void> {
    const bs = this.job.bs;
    const buf = new Uint8Array(bs);
    while (!this.stopping) {
      if (this.budget < bs) {
        this.stop('io_size');
        break;
      }
      this.budget -= bs;
      const dir: IoDirection = this.gen.nextDirection();
      const block = this.gen.nextBlock(this.busy);
      if (block < 0) throw new Error('no free block (more slots than blocks)');
      this.busy.add(block);
      this.counters.inFlight++;
      try {
        if (dir === 'read') await this.read(block);
        else await this.write(block, buf);
      } finally {
        this.counters.inFlight--;
        this.busy.delete(block);
      }
    }
  }

  private async read(block: number): Promise<void> {
    const offset = this.region.offset + block * this.job.bs;
    const r = await this.disk.read(offset, this.job.bs);
    this.counters.reads++;
    if (r.status !== 0) {
      this.counters.ioErrors++;
      return;
    }
    this.counters.readBytes += this.job.bs;
    this.verify?.checkRead(block, offset, r.data);
  }

  private async write(block: number, buf: Uint8Array): Promise<void> {
    const offset = this.region.offset + block * this.job.bs;
    fillBlock(buf, this.job.randseed, block, ++this.generation);
    const sum = this.verify !== null ? crc32c(buf) : 0;
    const status = await this.disk.write(offset, buf);
    this.counters.writes++;
    if (status !== 0) {
      this.counters.ioErrors++;
      this.verify?.forget(block);
      return;
    }
    this.counters.writeBytes += this.job.bs;
    this.verify?.recordWrite(block, sum);
  }
}
