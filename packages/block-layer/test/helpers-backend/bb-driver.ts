/**
 * `bbtest`: a RAM protocol driver for BlockBackend tests. It records every call, can fail
 * requests with an injected errno, hold them until released, or complete them after a latency
 * on the node's clock.
 */
import { AioContext, Errno, IOVector, VirtualClock } from '@vmkit/core';
import {
  BlockBackend,
  BlockGraph,
  MemoryState,
  RequestFlags,
  memoryDriver,
  nullCoDriver,
  rawDriver,
  type BlockBackendOptions,
  type BlockDriver,
  type BlockDriverState,
  type DriverOptions,
  type MaybePromise,
} from '../../src/index.js';

export type BbOp = 'read' | 'write' | 'zero' | 'discard' | 'flush' | 'truncate';

export interface BbCall {
  op: BbOp;
  offset: number;
  bytes: number;
  flags: number;
}

export interface BbError {
  op: BbOp;
  /** Negative errno. */
  ret: number;
  /** Only requests at this offset fail. */
  offset?: number;
  /** Fail once (default) or every time. */
  sticky?: boolean;
}

export class BbState {
  readonly mem: MemoryState;
  readonly calls: BbCall[] = [];
  readonly errors: BbError[] = [];
  hold = false;
  readonly held: Array<() => void> = [];
  latencyNs = 0;
  drainBegins = 0;
  drainEnds = 0;
  constructor(size: number) {
    this.mem = new MemoryState(size);
  }
  /** Completes every held request. */
  release(): void {
    for (const r of this.held.splice(0)) r();
  }
  ops(op: BbOp): BbCall[] {
    return this.calls.filter((c) => c.op === op);
  }
}

function run(bs: BlockDriverState<BbState>, call: BbCall, body: () => number): MaybePromise<number> {
  const s = bs.opaque;
  s.calls.push(call);
  const i = s.errors.findIndex(
    (e) => e.op === call.op && (e.offset === undefined || e.offset === call.offset),
  );
  let result: () => number = body;
  if (i >= 0) {
    const e = s.errors[i];
    if (!e.sticky) s.errors.splice(i, 1);
    result = () => e.ret;
  }
  if (s.hold) return new Promise<void>((resolve) => s.held.push(resolve)).then(result);
  if (s.latencyNs > 0) {
    return new Promise<number>((resolve) => {
      const t = bs.aioContext.newTimer(() => resolve(result()));
      t.arm(bs.aioContext.clock.now() + s.latencyNs);
    });
  }
  return result();
}

export const bbTestDriver: BlockDriver<BbState, { size: number }> = {
  name: 'bbtest',
  kind: 'protocol',
  supportedWriteFlags: 0,
  supportedZeroFlags: RequestFlags.MAY_UNMAP,
  parseOptions: (o: DriverOptions) => {
    for (const k of Object.keys(o)) if (k !== 'size') throw new Error(`Invalid parameter '${k}'`);
    return { size: (o.size as number | undefined) ?? 1024 * 1024 };
  },
  open(bs, o) {
    bs.opaque = new BbState(o.size);
  },
  getLength: (bs) => bs.opaque.mem.size,
  preadv: (bs, offset, bytes, qiov, qo, flags) =>
    run(bs, { op: 'read', offset, bytes, flags }, () => {
      bs.opaque.mem.read(offset, bytes, qiov, qo);
      return 0;
    }),
  pwritev: (bs, offset, bytes, qiov, qo, flags) =>
    run(bs, { op: 'write', offset, bytes, flags }, () => {
      bs.opaque.mem.write(offset, bytes, qiov, qo);
      return 0;
    }),
  pwriteZeroes: (bs, offset, bytes, flags) =>
    run(bs, { op: 'zero', offset, bytes, flags }, () => {
      bs.opaque.mem.zero(offset, bytes, false);
      return 0;
    }),
  pdiscard: (bs, offset, bytes) => run(bs, { op: 'discard', offset, bytes, flags: 0 }, () => 0),
  flushToDisk: (bs) => run(bs, { op: 'flush', offset: 0, bytes: 0, flags: 0 }, () => 0),
  truncate: (bs, offset) =>
    run(bs, { op: 'truncate', offset, bytes: 0, flags: 0 }, () => {
      bs.opaque.mem.truncate(offset);
      return 0;
    }),
  drainBegin(bs) {
    bs.opaque.drainBegins++;
  },
  drainEnd(bs) {
    bs.opaque.drainEnds++;
  },
};

export interface BbEnv {
  clock: VirtualClock;
  ctx: AioContext;
  graph: BlockGraph;
}

/** A graph on a VirtualClock with memory, null-co, raw and bbtest. */
export function newEnv(): BbEnv {
  const clock = new VirtualClock();
  const ctx = new AioContext({ name: 'main', clock });
  const graph = new BlockGraph({
    mainContext: ctx,
    drivers: [memoryDriver, nullCoDriver, rawDriver, bbTestDriver],
  });
  return { clock, ctx, graph };
}

export function bbState(bs: BlockDriverState): BbState {
  return bs.opaque as BbState;
}

/** A bbtest node of `size` bytes named `name` (the caller's reference is dropped: the BB keeps it). */
export async function bbNode(
  graph: BlockGraph,
  name = 'node0',
  size = 1024 * 1024,
): Promise<BlockDriverState> {
  return graph.openNode({ driver: 'bbtest', 'node-name': name, size });
}

/** A BlockBackend on a new bbtest node; the node's own reference is dropped. */
export async function bbBackend(
  env: BbEnv,
  options: BlockBackendOptions = {},
  size = 1024 * 1024,
  name = 'node0',
): Promise<{ blk: BlockBackend; bs: BlockDriverState; s: BbState }> {
  const bs = await bbNode(env.graph, name, size);
  const blk = new BlockBackend(env.graph, options);
  blk.insertBs(bs);
  bs.unref();
  return { blk, bs, s: bbState(bs) };
}

export function vec(bytes: number, fill = 0): IOVector {
  return IOVector.fromBuffer(new Uint8Array(bytes).fill(fill));
}

/** Lets promise continuations and scheduled bottom halves run. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export const EIO = -Errno.EIO;
