/**
 * The engine of `vmkit-img bench` (qemu-img.c img_bench / bench_cb): keeps `depth` AIO requests
 * in flight on a BlockBackend until `count` completed, exactly as a device would: one request
 * object per queue slot, a shared completion function (no closure per request), optional
 * device-style accounting, and periodic flushes (drained or not).
 */
import { IOVector, strerror } from '@vmkit/core';
import { BlockAcctCookie, BlockAcctType } from '../accounting/index.js';
import type { BlockBackend } from '../backend/index.js';
import { allocAligned } from '../drivers/file.js';

export interface BenchOptions {
  /** Requests to complete (-c, default 75000). */
  count: number;
  /** Requests in flight (-d, default 64). */
  depth: number;
  /** Bytes per request (-s, default 4096). */
  bufsize: number;
  /** First offset (-o). */
  offset: number;
  /** Distance between consecutive requests (-S); 0 means bufsize. */
  step: number;
  write: boolean;
  /** Byte written by write tests (--pattern). */
  pattern: number;
  /** Flush after every N requests (--flush-interval, write tests only); 0 = never. */
  flushInterval: number;
  /** Wait for the queue to empty before each flush (default; --no-drain clears it). */
  drainOnFlush: boolean;
  /** Account every request like a device (block_acct_start/done). */
  account: boolean;
}

export const BENCH_DEFAULTS: BenchOptions = {
  count: 75000,
  depth: 64,
  bufsize: 4096,
  offset: 0,
  step: 0,
  write: false,
  pattern: 0,
  flushInterval: 0,
  drainOnFlush: true,
  account: false,
};

export interface BenchResult {
  count: number;
  depth: number;
  size: number;
  write: boolean;
  offset: number;
  step: number;
  flushInterval: number;
  imageSize: number;
  seconds: number;
  /** CPU time of the process (user + system) during the run, in seconds. */
  cpuSeconds: number;
  iops: number;
  mibps: number;
  /** First failure (negative errno), 0 when every request succeeded. */
  error: number;
}

/** One queue slot: the opaque of its requests, with its accounting cookie. */
class BenchSlot {
  readonly cookie = new BlockAcctCookie();
  constructor(readonly run: BenchRun) {}
}

function benchCb(slot: BenchSlot, ret: number): void {
  slot.run.requestDone(slot, ret);
}

function drainedFlushCb(run: BenchRun, ret: number): void {
  run.flushDone(ret, true);
}

function undrainedFlushCb(run: BenchRun, ret: number): void {
  run.flushDone(ret, false);
}

class BenchRun {
  /** Requests not completed yet (b->n). */
  n: number;
  inFlight = 0;
  inFlush = false;
  flushesInFlight = 0;
  offset: number;
  error = 0;
  private readonly free: BenchSlot[] = [];
  private readonly qiov: IOVector;
  private finish: (() => void) | null = null;
  readonly finished: Promise<void>;

  constructor(
    readonly blk: BlockBackend,
    readonly o: BenchOptions,
    readonly imageSize: number,
  ) {
    this.n = o.count;
    this.offset = o.offset;
    const buf = allocAligned(o.bufsize).subarray(0, o.bufsize);
    if (o.write) buf.fill(o.pattern);
    this.qiov = IOVector.fromBuffer(buf);
    for (let i = 0; i < o.depth; i++) this.free.push(new BenchSlot(this));
    this.finished = new Promise<void>((resolve) => (this.finish = resolve));
  }

  checkDone(): void {
    if ((this.n === 0 || (this.error !== 0 && this.inFlight === 0)) && this.flushesInFlight === 0)
      this.finish?.();
  }

  /** The submission loop of bench_cb. */
  submit(): void {
    const o = this.o;
    const step = o.step || o.bufsize;
    while (this.error === 0 && this.n > this.inFlight && this.inFlight < o.depth) {
      const offset = this.offset;
      this.inFlight++;
      this.offset += step;
      if (this.imageSize <= o.bufsize) this.offset = 0;
      else this.offset %= this.imageSize - o.bufsize;
      const slot = this.free.pop()!;
      if (o.account)
        this.blk.acctStart(slot.cookie, o.bufsize, o.write ? BlockAcctType.WRITE : BlockAcctType.READ);
      if (o.write) this.blk.aioPwritev(offset, this.qiov, 0, benchCb, slot);
      else this.blk.aioPreadv(offset, this.qiov, 0, benchCb, slot);
    }
  }

  requestDone(slot: BenchSlot, ret: number): void {
    const o = this.o;
    if (o.account) {
      if (ret < 0) this.blk.acctFailed(slot.cookie);
      else this.blk.acctDone(slot.cookie);
    }
    this.free.push(slot);
    if (ret < 0 && this.error === 0) this.error = ret;
    const remaining = this.n - this.inFlight;
    this.n--;
    this.inFlight--;
    if (o.flushInterval && remaining % o.flushInterval === 0 && this.error === 0) {
      if (this.inFlight === 0 || !o.drainOnFlush) {
        this.flushesInFlight++;
        if (o.drainOnFlush) {
          this.inFlush = true;
          this.blk.aioFlush(drainedFlushCb, this);
        } else this.blk.aioFlush(undrainedFlushCb, this);
      }
      if (o.drainOnFlush) {
        this.checkDone();
        return;
      }
    }
    this.submit();
    this.checkDone();
  }

  flushDone(ret: number, drained: boolean): void {
    this.flushesInFlight--;
    if (ret < 0 && this.error === 0) this.error = ret;
    if (drained) {
      this.inFlush = false;
      this.submit();
    }
    this.checkDone();
  }
}

/** Runs one benchmark on `blk` (which must stay open until the promise settles). */
export async function runBench(blk: BlockBackend, options: Partial<BenchOptions> = {}): Promise<BenchResult> {
  const o: BenchOptions = { ...BENCH_DEFAULTS, ...options };
  const imageSize = await blk.coGetLength();
  if (imageSize < 0) throw new Error(`Could not get the image size: ${strerror(imageSize)}`);
  const run = new BenchRun(blk, o, imageSize);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  run.submit();
  run.checkDone();
  await run.finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  // Requests still running after a failure must finish before the caller closes the image.
  await blk.drain();
  const completed = o.count - run.n;
  return {
    count: o.count,
    depth: o.depth,
    size: o.bufsize,
    write: o.write,
    offset: o.offset,
    step: o.step || o.bufsize,
    flushInterval: o.flushInterval,
    imageSize,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    iops: seconds > 0 ? completed / seconds : 0,
    mibps: seconds > 0 ? (completed * o.bufsize) / seconds / (1 << 20) : 0,
    error: run.error,
  };
}
