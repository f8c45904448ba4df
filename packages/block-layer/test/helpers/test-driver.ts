/**
 * Test drivers: `test` (a RAM protocol node that records calls, can hold requests, inject
 * errors, override limits, track allocation and read unallocated data from a backing child) and
 * `limits` (a pass-through filter over `file` with configurable limits).
 */
import { AioContext, Errno, IOVector, VirtualClock } from '@vmkit/core';
import {
  BlockGraph,
  BlockStatus,
  ChildRole,
  RequestFlags,
  bdrvPdiscard,
  bdrvPreadv,
  bdrvPwritev,
  bdrvPwriteZeroes,
  bdrvFlush,
  memoryDriver,
  nullCoDriver,
  rawDriver,
  type BlockDriver,
  type BlockDriverState,
  type BdrvChild,
  type DriverOptions,
  type MaybePromise,
} from '../../src/index.js';

export type TestOp =
  'read' | 'write' | 'zero' | 'discard' | 'flush' | 'flushToOs' | 'flushToDisk' | 'truncate' | 'status';

export interface TestCall {
  op: TestOp;
  offset: number;
  bytes: number;
  flags: number;
}

export interface TestLimits {
  requestAlignment?: number;
  maxTransfer?: number;
  pwriteZeroesAlignment?: number;
  maxPwriteZeroes?: number;
  pdiscardAlignment?: number;
  maxPdiscard?: number;
  maxIov?: number;
  optTransfer?: number;
}

export class TestState {
  data: Uint8Array;
  /** 512-byte sectors written (for block status / copy-on-read). */
  readonly allocated = new Set<number>();
  drainCount = 0;
  /** 'begin' / 'end' for every driver drain hook call. */
  readonly drainLog: string[] = [];
  readonly calls: TestCall[] = [];
  readonly events: string[] = [];
  /** When true, requests are queued in `held` until release(). */
  hold = false;
  readonly held: Array<{ call: TestCall; resolve: () => void }> = [];
  /** When true, requests complete through a resolved promise (asynchronous driver). */
  async = false;
  /** errno (negative) to return for an op, once (removed after use) unless `sticky`. */
  readonly errors = new Map<TestOp, { ret: number; sticky: boolean; offset?: number }>();
  zeroesSupported = true;
  discardSupported = true;
  limits: TestLimits = {};
  clusterSize = 0;
  closed = false;
  plugCalls: string[] = [];
  /** Child whose data backs unallocated sectors (set when the node has a backing child). */
  constructor(size: number) {
    this.data = new Uint8Array(size);
  }

  /** Releases every held request. */
  release(): void {
    for (const h of this.held.splice(0)) h.resolve();
  }

  ops(op?: TestOp): TestCall[] {
    return op === undefined ? this.calls : this.calls.filter((c) => c.op === op);
  }
}

function finish(s: TestState, call: TestCall, run: () => MaybePromise<number>): MaybePromise<number> {
  s.calls.push(call);
  const err = s.errors.get(call.op);
  if (err !== undefined && (err.offset === undefined || err.offset === call.offset)) {
    if (!err.sticky) s.errors.delete(call.op);
    return s.async || s.hold ? Promise.resolve(err.ret) : err.ret;
  }
  if (s.hold) {
    return new Promise<void>((resolve) => s.held.push({ call, resolve })).then(run);
  }
  if (s.async) return Promise.resolve().then(run);
  return run();
}

function markAllocated(s: TestState, offset: number, bytes: number, on: boolean): void {
  for (let sec = Math.floor(offset / 512); sec * 512 < offset + bytes; sec++) {
    if (on) s.allocated.add(sec);
    else s.allocated.delete(sec);
  }
}

function grow(s: TestState, end: number): void {
  if (end > s.data.length) {
    const d = new Uint8Array(end);
    d.set(s.data);
    s.data = d;
  }
}

export interface TestDriverOptions {
  size: number;
  backing?: unknown;
  file?: unknown;
}

/** Creates a test driver (distinct names allow several kinds in one graph). */
export function makeTestDriver(
  name = 'test',
  kind: 'protocol' | 'format' = 'protocol',
): BlockDriver<TestState, TestDriverOptions> {
  const drv: BlockDriver<TestState, TestDriverOptions> = {
    name,
    kind,
    supportsBacking: true,
    supportedWriteFlags: 0,
    supportedZeroFlags: RequestFlags.MAY_UNMAP,
    parseOptions: (o: DriverOptions) => ({
      size: (o.size as number | undefined) ?? 65536,
      backing: o.backing,
      file: o.file,
    }),
    async open(bs, o) {
      bs.opaque = new TestState(o.size);
      if (o.backing !== undefined)
        await bs.openChild(o.backing as string, 'backing', ChildRole.COW, { allowNone: true });
      if (o.file !== undefined) await bs.openChild(o.file as string, 'file', ChildRole.IMAGE);
    },
    close(bs) {
      bs.opaque.closed = true;
    },
    getLength: (bs) => bs.opaque.data.length,
    preadv(bs, offset, bytes, qiov, qiovOffset, flags) {
      const s = bs.opaque;
      return finish(s, { op: 'read', offset, bytes, flags }, () =>
        readData(bs, offset, bytes, qiov, qiovOffset),
      );
    },
    pwritev(bs, offset, bytes, qiov, qiovOffset, flags) {
      const s = bs.opaque;
      return finish(s, { op: 'write', offset, bytes, flags }, () => {
        grow(s, offset + bytes);
        qiov.copyTo(s.data.subarray(offset, offset + bytes), qiovOffset, bytes);
        markAllocated(s, offset, bytes, true);
        return 0;
      });
    },
    pwriteZeroes(bs, offset, bytes, flags) {
      const s = bs.opaque;
      if (!s.zeroesSupported) {
        s.calls.push({ op: 'zero', offset, bytes, flags });
        return -Errno.ENOTSUP;
      }
      return finish(s, { op: 'zero', offset, bytes, flags }, () => {
        grow(s, offset + bytes);
        s.data.fill(0, offset, offset + bytes);
        markAllocated(s, offset, bytes, !(flags & RequestFlags.MAY_UNMAP));
        return 0;
      });
    },
    pdiscard(bs, offset, bytes) {
      const s = bs.opaque;
      if (!s.discardSupported) return -Errno.ENOTSUP;
      return finish(s, { op: 'discard', offset, bytes, flags: 0 }, () => {
        markAllocated(s, offset, bytes, false);
        return 0;
      });
    },
    flushToOs(bs) {
      return finish(bs.opaque, { op: 'flushToOs', offset: 0, bytes: 0, flags: 0 }, () => 0);
    },
    flushToDisk(bs) {
      return finish(bs.opaque, { op: 'flushToDisk', offset: 0, bytes: 0, flags: 0 }, () => 0);
    },
    truncate(bs, offset) {
      return finish(bs.opaque, { op: 'truncate', offset, bytes: 0, flags: 0 }, () => {
        const d = new Uint8Array(offset);
        d.set(bs.opaque.data.subarray(0, Math.min(offset, bs.opaque.data.length)));
        bs.opaque.data = d;
        return 0;
      });
    },
    blockStatus(bs, _wantZero, offset, bytes) {
      const s = bs.opaque;
      s.calls.push({ op: 'status', offset, bytes, flags: 0 });
      const first = s.allocated.has(Math.floor(offset / 512));
      let end = Math.min(offset + bytes, (Math.floor(offset / 512) + 1) * 512);
      while (end < offset + bytes && s.allocated.has(end / 512) === first)
        end = Math.min(offset + bytes, end + 512);
      return { status: first ? BlockStatus.DATA : 0, pnum: end - offset };
    },
    refreshLimits(bs) {
      Object.assign(bs.limits, bs.opaque.limits);
    },
    drainBegin(bs) {
      bs.opaque.drainCount++;
      bs.opaque.drainLog.push('begin');
    },
    drainEnd(bs) {
      bs.opaque.drainCount--;
      bs.opaque.drainLog.push('end');
    },
    ioPlug(bs) {
      bs.opaque.plugCalls.push(`${bs.nodeName}:plug`);
    },
    ioUnplug(bs) {
      bs.opaque.plugCalls.push(`${bs.nodeName}:unplug`);
    },
    debugEvent(bs, event) {
      bs.opaque.events.push(event);
    },
    info: (bs) => ({ clusterSize: bs.opaque.clusterSize }),
  };
  return drv;
}

/** Reads own data for allocated sectors, backing data (through the backing edge) otherwise. */
function readData(
  bs: BlockDriverState<TestState>,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
): MaybePromise<number> {
  const s = bs.opaque;
  const backing = bs.cow;
  const avail = Math.max(0, Math.min(bytes, s.data.length - offset));
  qiov.copyFrom(s.data.subarray(offset, offset + avail), qiovOffset);
  if (avail < bytes) qiov.fill(0, qiovOffset + avail, bytes - avail);
  if (backing === null) return 0;
  const pending: Promise<number>[] = [];
  for (let sec = Math.floor(offset / 512); sec * 512 < offset + bytes; sec++) {
    if (s.allocated.has(sec)) continue;
    const start = Math.max(offset, sec * 512);
    const end = Math.min(offset + bytes, sec * 512 + 512);
    const r = bdrvPreadv(backing, start, end - start, qiov, qiovOffset + start - offset);
    if (typeof r !== 'number') pending.push(r);
  }
  return pending.length ? Promise.all(pending).then(() => 0) : 0;
}

export interface LimitsFilterState {
  file: BdrvChild;
}

/** A pass-through filter over `file` whose options set the limits. */
export const limitsFilter: BlockDriver<LimitsFilterState, DriverOptions> = {
  name: 'limits',
  kind: 'filter',
  async open(bs, o) {
    const c = await bs.openChild(o.file as string, 'file', ChildRole.FILTERED | ChildRole.PRIMARY);
    bs.opaque = { file: c! };
  },
  refreshLimits(bs) {
    const o = bs.driverOptions;
    for (const k of [
      'requestAlignment',
      'maxTransfer',
      'pwriteZeroesAlignment',
      'maxPwriteZeroes',
      'pdiscardAlignment',
      'maxPdiscard',
    ] as const) {
      if (typeof o[k] === 'number') bs.limits[k] = o[k];
    }
  },
  preadv: (bs, offset, bytes, qiov, qo, flags) => bdrvPreadv(bs.opaque.file, offset, bytes, qiov, qo, flags),
  pwritev: (bs, offset, bytes, qiov, qo, flags) =>
    bdrvPwritev(bs.opaque.file, offset, bytes, qiov, qo, flags),
  pwriteZeroes: (bs, offset, bytes, flags) => bdrvPwriteZeroes(bs.opaque.file, offset, bytes, flags),
  pdiscard: (bs, offset, bytes) => bdrvPdiscard(bs.opaque.file, offset, bytes),
  flush: (bs) => bdrvFlush(bs.opaque.file),
};

/** A fresh graph on a VirtualClock with the built-in and test drivers. */
export function newGraph(): { graph: BlockGraph; clock: VirtualClock; ctx: AioContext } {
  const clock = new VirtualClock();
  const ctx = new AioContext({ name: 'main', clock });
  const graph = new BlockGraph({
    mainContext: ctx,
    drivers: [
      memoryDriver,
      nullCoDriver,
      rawDriver,
      makeTestDriver(),
      makeTestDriver('test-fmt', 'format'),
      limitsFilter,
    ],
  });
  return { graph, clock, ctx };
}

/** A non-node parent (stands in for a BlockBackend) with drain callbacks and counters. */
export class TestParent {
  quiesce = 0;
  busy = 0;
  resized = 0;
  child: BdrvChild | null = null;
  constructor(
    readonly name: string,
    readonly aioContext: AioContext,
  ) {}
  description(): string {
    return `block device '${this.name}'`;
  }
  drainedBegin(): void {
    this.quiesce++;
  }
  drainedEnd(): void {
    this.quiesce--;
  }
  drainedPoll(): boolean {
    return this.busy > 0;
  }
  /** A request of this parent finished (blk_dec_in_flight kicks waiters). */
  done(): void {
    this.busy--;
    this.aioContext.kick();
  }
  resize(): void {
    this.resized++;
  }
}

export function state(bs: BlockDriverState): TestState {
  return bs.opaque as TestState;
}

export function buf(bytes: number, fill = 0): IOVector {
  return IOVector.fromBuffer(new Uint8Array(bytes).fill(fill));
}

/** Settles a MaybePromise. */
export async function settle(r: MaybePromise<number>): Promise<number> {
  return r;
}
