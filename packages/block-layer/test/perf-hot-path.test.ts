/**
 * The performance mechanisms of the hot path keep the behaviour: shared host-clock readings in
 * accounting, batching of file submissions made while completions are delivered (and in
 * defer_call sections), the merge cap, and the pooled settle objects of asynchronous reads.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, Errno, IOVector } from '@vmkit/core';
import {
  BlockAcctCookie,
  BlockAcctStats,
  BlockAcctType,
  BlockBackend,
  BlockGraph,
  bdrvPreadv,
  fileDriver,
  fileIo,
  ioPlug,
  ioUnplug,
  nullCoDriver,
  type BlockDriver,
  type BlockDriverState,
  type NullOptions,
  type NullState,
  type MaybePromise,
} from '../src/index.js';
import { CoarseHostTime } from '../src/accounting/coarse-time.js';
import { microtask, SteppingClock } from './helpers/stepping-clock.js';

type IoCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

const settle = async (r: MaybePromise<number>): Promise<number> => r;

describe('hot path: shared host-clock readings in accounting (CoarseHostTime)', () => {
  it('sparse readings (depth 1): the clock is read every time', () => {
    const clock = new SteppingClock(5000);
    const t = new CoarseHostTime(clock);
    const seen = [t.now(), t.now(), t.now(), t.now()];
    expect(clock.reads).to.equal(4);
    expect(new Set(seen).size).to.equal(4);
  });

  it('a burst shares readings (at most 8 uses each), never ahead of the clock, monotonic', async () => {
    const clock = new SteppingClock(10);
    const t = new CoarseHostTime(clock);
    const seen: number[] = [];
    for (let i = 0; i < 64; i++) {
      seen.push(t.now());
      expect(seen[i]).to.be.at.most(clock.t);
      if (i > 0) expect(seen[i]).to.be.at.least(seen[i - 1]);
    }
    // Three direct readings detect the burst, then one reading per 8 uses.
    expect(clock.reads).to.be.at.most(3 + Math.ceil(61 / 8));
    const lastOfRun = seen[63];
    await microtask();
    // A new run takes a new reading.
    expect(t.now()).to.be.greaterThan(lastOfRun);
  });

  it('a run with few readings ends the sharing', async () => {
    const clock = new SteppingClock(10);
    const t = new CoarseHostTime(clock);
    for (let i = 0; i < 10; i++) t.now();
    await microtask();
    t.now();
    await microtask();
    const before = clock.reads;
    t.now();
    t.now();
    expect(clock.reads - before).to.equal(2);
  });

  it('a request started and completed in separate runs never gets a zero latency', async () => {
    const clock = new SteppingClock(10);
    const stats = new BlockAcctStats(clock);
    const cookies = Array.from({ length: 32 }, () => new BlockAcctCookie());
    for (const c of cookies) stats.start(c, 4096, BlockAcctType.READ);
    // Completion is always deferred: at least a microtask later.
    await microtask();
    for (const c of cookies) stats.done(c);
    expect(stats.nrOps[BlockAcctType.READ]).to.equal(32);
    const minLatency = stats.totalTimeNs[BlockAcctType.READ] / 32;
    expect(minLatency).to.be.greaterThan(0);
    for (const c of cookies) expect(c.type).to.equal(BlockAcctType.NONE);
  });
});

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

describe('hot path: file driver submission batching', () => {
  let dir: string;
  let graph: BlockGraph;
  let ctx: AioContext;
  let data: Uint8Array;
  let bs: BlockDriverState;
  const restores: Array<() => void> = [];
  const calls: Array<{ op: 'read' | 'readv'; pos: number; iovs: number }> = [];
  /** Offsets whose read completion is held until released. */
  const holdAt = new Set<number>();
  const held: Array<() => void> = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-hot-'));
    const file = path.join(dir, 'img.raw');
    data = pattern(1 << 20, 3);
    fs.writeFileSync(file, data);
    ctx = new AioContext();
    graph = new BlockGraph({ mainContext: ctx, drivers: [fileDriver] });
    // These tests count thread-pool calls: page-cached reads must not be served inline.
    bs = await graph.openNode({ driver: 'file', filename: file, nowait: 'off' });
    const read = fileIo.read;
    const readv = fileIo.readv;
    restores.push(() => {
      fileIo.read = read;
      fileIo.readv = readv;
    });
    fileIo.read = (fd, buf, off, len, pos, cb): void => {
      calls.push({ op: 'read', pos, iovs: 1 });
      const done: IoCallback = holdAt.has(pos) ? (e, n) => void held.push(() => cb(e, n)) : cb;
      read(fd, buf, off, len, pos, done);
    };
    fileIo.readv = (fd, bufs, pos, cb): void => {
      calls.push({ op: 'readv', pos, iovs: bufs.length });
      readv(fd, bufs, pos, cb);
    };
  });

  afterEach(async () => {
    for (const r of restores.splice(0)) r();
    for (const r of held.splice(0)) r();
    holdAt.clear();
    calls.length = 0;
    bs.unref();
    await bs.closing;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const buf = (): IOVector => IOVector.fromBuffer(new Uint8Array(4096));

  it('requests submitted while completions are delivered, others in flight, go out merged after', async () => {
    holdAt.add(512 * 1024);
    const lingering = bdrvPreadv(bs, 512 * 1024, 4096, buf());
    const first = bdrvPreadv(bs, 0, 4096, buf());
    expect(calls).to.have.length(2);
    expect(await first).to.equal(0);
    // Delivering the completion of `first`, with `lingering` still in flight: held.
    const outs = [buf(), buf(), buf()];
    const next = outs.map((q, i) => bdrvPreadv(bs, 4096 * (i + 1), 4096, q));
    expect(calls).to.have.length(2);
    expect(await Promise.all(next.map(settle))).to.deep.equal([0, 0, 0]);
    expect(calls.slice(2)).to.deep.equal([{ op: 'readv', pos: 4096, iovs: 3 }]);
    outs.forEach((q, i) => expect(q.views[0]).to.deep.equal(data.subarray(4096 * (i + 1), 4096 * (i + 2))));
    for (const r of held.splice(0)) r();
    expect(await lingering).to.equal(0);
  });

  it('a lone request submitted from a completion goes at once (no extra latency at depth 1)', async () => {
    expect(await bdrvPreadv(bs, 0, 4096, buf())).to.equal(0);
    const p = bdrvPreadv(bs, 4096, 4096, buf());
    expect(calls).to.have.length(2);
    expect(await p).to.equal(0);
  });

  it('a plugged run is merged 16 requests per call at most', async () => {
    ioPlug(bs);
    const outs = Array.from({ length: 40 }, buf);
    const all = outs.map((q, i) => bdrvPreadv(bs, 4096 * i, 4096, q));
    expect(calls).to.have.length(0);
    ioUnplug(bs);
    expect(calls.map((c) => [c.pos, c.iovs])).to.deep.equal([
      [0, 16],
      [16 * 4096, 16],
      [32 * 4096, 8],
    ]);
    expect((await Promise.all(all.map(settle))).every((r) => r === 0)).to.equal(true);
    outs.forEach((q, i) => expect(q.views[0]).to.deep.equal(data.subarray(4096 * i, 4096 * (i + 1))));
  });

  it('a defer_call section batches submissions until its outermost end', async () => {
    ctx.deferCallBegin();
    ctx.deferCallBegin();
    const all = [0, 1, 2].map((i) => bdrvPreadv(bs, 4096 * i, 4096, buf()));
    ctx.deferCallEnd();
    expect(calls).to.have.length(0);
    ctx.deferCallEnd();
    expect(calls).to.deep.equal([{ op: 'readv', pos: 0, iovs: 3 }]);
    expect(await Promise.all(all.map(settle))).to.deep.equal([0, 0, 0]);
  });
});

describe('hot path: pooled settle objects of asynchronous reads', () => {
  let mode: 'ok' | 'error' | 'reject' = 'ok';
  const asyncDriver: BlockDriver<NullState, NullOptions> = {
    ...nullCoDriver,
    name: 'async-null',
    preadv() {
      if (mode === 'reject') return Promise.reject(new Error('driver bug'));
      return Promise.resolve(mode === 'ok' ? 5 : -Errno.EIO);
    },
  };

  async function setup(): Promise<{ blk: BlockBackend; bs: BlockDriverState }> {
    const graph = new BlockGraph({ mainContext: new AioContext(), drivers: [asyncDriver] });
    const bs = await graph.openNode({ driver: 'async-null', size: 1 << 20 });
    return { blk: BlockBackend.withNode(bs), bs };
  }

  afterEach(() => {
    mode = 'ok';
  });

  it('results (positive clamped to 0, errors) and counters are right, over and over', async () => {
    const { blk, bs } = await setup();
    for (let round = 0; round < 3; round++) {
      mode = 'ok';
      const ok = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          blk.coPreadv(i * 512, 512, IOVector.fromBuffer(new Uint8Array(512))),
        ),
      );
      expect(ok.every((r) => r === 0)).to.equal(true);
      mode = 'error';
      expect(await blk.coPreadv(0, 512, IOVector.fromBuffer(new Uint8Array(512)))).to.equal(-Errno.EIO);
      expect([blk.inFlight, bs.inFlight, bs.trackedRequests.size]).to.deep.equal([0, 0, 0]);
    }
  });

  it('a rejecting driver fails the AIO request with -EIO and leaves no count behind', async () => {
    const { blk, bs } = await setup();
    mode = 'reject';
    const rets: number[] = [];
    await new Promise<void>((resolve) => {
      blk.aioPreadv(
        0,
        IOVector.fromBuffer(new Uint8Array(512)),
        0,
        (_: null, ret: number) => {
          rets.push(ret);
          resolve();
        },
        null,
      );
    });
    expect(rets).to.deep.equal([-Errno.EIO]);
    expect([blk.inFlight, bs.inFlight, bs.trackedRequests.size]).to.deep.equal([0, 0, 0]);
  });
});
