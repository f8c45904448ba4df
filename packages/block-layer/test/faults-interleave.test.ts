/**
 * iotest 077 (concurrent read-modify-write serialisation), request for request: raw over
 * blkdebug with align=4k over a RAM image; blkdebug breakpoints (break / wait_break / resume)
 * order overlapping unaligned writes deterministically, and the image must end up exactly as
 * in QEMU.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, IOVector, VirtualClock } from '@vmkit/core';
import {
  BlockGraph,
  ChildRole,
  Perm,
  bdrvFlush,
  bdrvPreadv,
  bdrvPwritev,
  blkdebugDriver,
  findBlkdebug,
  fileDriver,
  memoryDriver,
  rawDriver,
  type BdrvChild,
  type BlkdebugState,
  type MaybePromise,
} from '../src/index.js';
import { TestParent } from './helpers/test-driver.js';

/** A qemu-io session on `driver=raw,file.driver=blkdebug,file.align=4k`. */
class QemuIo {
  private pending: Array<MaybePromise<number>> = [];
  /** Writes submitted and not completed yet. */
  inFlight = 0;
  constructor(
    readonly blk: BdrvChild,
    readonly dbg: BlkdebugState,
  ) {}

  aioWrite(pattern: number, offset: number, bytes: number): void {
    this.inFlight++;
    const r = bdrvPwritev(this.blk, offset, bytes, IOVector.fromBuffer(new Uint8Array(bytes).fill(pattern)));
    if (typeof r === 'number') this.inFlight--;
    else
      void r.then(() => {
        this.inFlight--;
      });
    this.pending.push(r);
  }

  /** The breakpoints really hold requests back: `n` writes are still running. */
  expectInFlight(n: number, where: string): void {
    expect(this.inFlight, `writes in flight ${where}`).to.equal(n);
  }

  break(event: string, tag: string): void {
    expect(this.dbg.breakpoint(event, tag)).to.equal(0);
  }

  async waitBreak(tag: string): Promise<void> {
    await this.dbg.waitBreak(tag);
  }

  resume(tag: string): void {
    expect(this.dbg.resume(tag), `resume ${tag}`).to.equal(0);
  }

  /** qemu-io `sleep`: lets everything that can make progress do so (no wall-clock wait). */
  async sleep(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  }

  /** aio_flush: waits for every request (all must succeed), then flushes. */
  async aioFlush(): Promise<void> {
    const results = await Promise.all(this.pending.map(async (p) => p));
    this.pending = [];
    expect(
      results.every((r) => r === 0),
      `results ${results.join(',')}`,
    ).to.equal(true);
    expect(await bdrvFlush(this.blk)).to.equal(0);
  }
}

async function session(image: Record<string, unknown>): Promise<{ io: QemuIo; graph: BlockGraph }> {
  const ctx = new AioContext({ clock: new VirtualClock() });
  const graph = new BlockGraph({
    mainContext: ctx,
    drivers: [memoryDriver, rawDriver, blkdebugDriver, fileDriver],
  });
  const top = await graph.openNode({
    driver: 'raw',
    file: { driver: 'blkdebug', 'node-name': 'dbg', align: 4096, image },
  });
  const user = new TestParent('qemu-io', ctx);
  const edge = graph.attachRootChild(
    top,
    'root',
    ChildRole.FILTERED | ChildRole.PRIMARY,
    user,
    Perm.ALL,
    Perm.ALL,
  );
  top.unref();
  return { io: new QemuIo(edge, findBlkdebug(top)!), graph };
}

async function run077(io: QemuIo): Promise<void> {
  // A simple RMW request
  io.aioWrite(10, 0x200, 0x200);
  await io.aioFlush();

  // Sequential RMW requests on the same physical sector
  let off = 0x1000;
  for (const ev of ['head', 'after_head']) {
    io.break(`pwritev_rmw_${ev}`, 'A');
    io.aioWrite(10, off + 0x200, 0x200);
    await io.waitBreak('A');
    io.expectInFlight(1, `at pwritev_rmw_${ev}`);
    io.aioWrite(11, off + 0x400, 0x200);
    await io.sleep();
    io.expectInFlight(2, 'while the second RMW waits for the first');
    io.resume('A');
    await io.aioFlush();
    off += 0x1000;
  }

  // Chained dependencies
  io.break('pwritev_rmw_after_tail', 'A');
  io.aioWrite(10, 0x5000, 0x200);
  await io.waitBreak('A');
  for (let i = 1; i <= 7; i++) io.aioWrite(10 + i, 0x5000 + i * 0x200, 0x200);
  await io.sleep();
  io.expectInFlight(8, 'chained on the same block');
  io.resume('A');
  await io.aioFlush();

  // Overlapping multiple requests
  for (const [base, order] of [
    [0x6000, 'AB'],
    [0x8000, 'BA'],
  ] as const) {
    io.break('pwritev_rmw_after_tail', 'A');
    io.aioWrite(10, base, 0x200);
    await io.waitBreak('A');
    io.break('pwritev_rmw_after_head', 'B');
    io.aioWrite(10, base + 0x1e00, 0x200);
    await io.waitBreak('B');
    io.expectInFlight(2, 'both held at their breakpoints');
    io.aioWrite(11, base + 0x800, 0x1000);
    io.resume(order[0]);
    await io.sleep();
    io.resume(order[1]);
    await io.aioFlush();
  }
  for (const [base, order] of [
    [0xa000, 'AB'],
    [0xc000, 'BA'],
  ] as const) {
    io.break('pwritev_rmw_after_tail', 'A');
    io.aioWrite(10, base, 0x200);
    await io.waitBreak('A');
    io.aioWrite(11, base + 0x800, 0x1000);
    io.break('pwritev_rmw_after_head', 'B');
    io.aioWrite(10, base + 0x1e00, 0x200);
    await io.waitBreak('B');
    io.resume(order[0]);
    await io.sleep();
    io.resume(order[1]);
    await io.aioFlush();
  }

  // Only RMW for the tail part
  io.break('pwritev_rmw_after_tail', 'A');
  io.aioWrite(10, 0xe000, 0x1800);
  await io.waitBreak('A');
  io.aioWrite(11, 0xf000, 0xc00);
  await io.sleep();
  io.expectInFlight(2, 'tail RMW holding the overlapping write');
  io.resume('A');
  await io.aioFlush();

  io.break('pwritev', 'A');
  io.aioWrite(10, 0x10000, 0x800);
  await io.waitBreak('A');
  io.break('pwritev_rmw_after_tail', 'B');
  io.aioWrite(11, 0x10000, 0x400);
  io.break('pwritev_done', 'C');
  io.resume('A');
  await io.waitBreak('C');
  io.resume('C');
  await io.sleep();
  await io.waitBreak('B');
  io.resume('B');
  await io.aioFlush();

  io.break('pwritev', 'A');
  io.aioWrite(10, 0x11000, 0x800);
  await io.waitBreak('A');
  io.aioWrite(11, 0x11000, 0x1000);
  await io.sleep();
  io.expectInFlight(2, 'aligned write waiting for the suspended RMW');
  io.resume('A');
  await io.aioFlush();
}

/** verify_io of iotest 077: [pattern, offset, bytes]. */
const VERIFY: Array<[number, number, number]> = [
  [0, 0, 0x200],
  [10, 0x200, 0x200],
  [0, 0x400, 0xc00],
  [0, 0x1000, 0x200],
  [10, 0x1200, 0x200],
  [11, 0x1400, 0x200],
  [0, 0x1600, 0xa00],
  [0, 0x2000, 0x200],
  [10, 0x2200, 0x200],
  [11, 0x2400, 0x200],
  [0, 0x2600, 0xa00],
  [10, 0x5000, 0x200],
  [11, 0x5200, 0x200],
  [12, 0x5400, 0x200],
  [13, 0x5600, 0x200],
  [14, 0x5800, 0x200],
  [15, 0x5a00, 0x200],
  [16, 0x5c00, 0x200],
  [17, 0x5e00, 0x200],
  [10, 0x6000, 0x200],
  [0, 0x6200, 0x600],
  [11, 0x6800, 0x1000],
  [0, 0x7800, 0x600],
  [10, 0x7e00, 0x200],
  [10, 0x8000, 0x200],
  [0, 0x8200, 0x600],
  [11, 0x8800, 0x1000],
  [0, 0x9800, 0x600],
  [10, 0x9e00, 0x200],
  [10, 0xa000, 0x200],
  [0, 0xa200, 0x600],
  [11, 0xa800, 0x1000],
  [0, 0xb800, 0x600],
  [10, 0xbe00, 0x200],
  [10, 0xc000, 0x200],
  [0, 0xc200, 0x600],
  [11, 0xc800, 0x1000],
  [0, 0xd800, 0x600],
  [10, 0xde00, 0x200],
  [10, 0xe000, 0x1000],
  [11, 0xf800, 0x400],
  [0, 0xfc00, 0x400],
  [11, 0x10000, 0x400],
  [10, 0x10400, 0x400],
  [11, 0x11800, 0x800],
];

async function verify(io: QemuIo): Promise<void> {
  for (const [pattern, offset, bytes] of VERIFY) {
    const out = new Uint8Array(bytes);
    expect(await bdrvPreadv(io.blk, offset, bytes, IOVector.fromBuffer(out))).to.equal(0);
    const bad = out.findIndex((b) => b !== pattern);
    expect(
      bad,
      `read -P ${pattern} 0x${offset.toString(16)} 0x${bytes.toString(16)}: mismatch at +0x${bad.toString(16)}`,
    ).to.equal(-1);
  }
}

describe('faults: iotest 077 concurrent RMW with blkdebug breakpoints', () => {
  it('077 on a RAM image: serialised RMW, chained dependencies, no lost sector data', async () => {
    const { io, graph } = await session({ driver: 'memory', size: 128 << 20 });
    await run077(io);
    await verify(io);
    for (const bs of graph.nodes()) {
      expect(bs.trackedRequests.size).to.equal(0);
      expect(bs.inFlight).to.equal(0);
    }
  });

  it('077 on a host file (asynchronous completions)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-077-'));
    try {
      const f = path.join(dir, 'test.raw');
      fs.writeFileSync(f, new Uint8Array(1 << 20));
      const { io, graph } = await session({ driver: 'file', filename: f });
      await run077(io);
      await verify(io);
      const nodes = graph.nodes();
      for (const bs of nodes) expect(bs.inFlight).to.equal(0);
      graph.unrefChild(io.blk);
      for (const bs of nodes) await bs.closing;
      expect(graph.nodes()).to.have.length(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a write suspended on the fast path is tracked: an overlapping RMW waits for it', async () => {
    const { io } = await session({ driver: 'memory', size: 1 << 20 });
    io.break('pwritev', 'A');
    io.aioWrite(10, 0, 0x1000);
    await io.waitBreak('A');
    const dbg = io.blk.bs!.file!.bs!;
    expect(dbg.trackedRequests.size).to.equal(1);
    io.break('pwritev_rmw_head', 'B');
    io.aioWrite(11, 0x200, 0x200);
    await io.sleep();
    // The RMW write is serialising and waits for A before reading the head block.
    expect(io.dbg.isSuspended('B')).to.equal(false);
    io.resume('A');
    await io.waitBreak('B');
    io.resume('B');
    await io.aioFlush();
    const out = new Uint8Array(0x1000);
    expect(await bdrvPreadv(io.blk, 0, 0x1000, IOVector.fromBuffer(out))).to.equal(0);
    expect(out.subarray(0, 0x200).every((b) => b === 10)).to.equal(true);
    expect(out.subarray(0x200, 0x400).every((b) => b === 11)).to.equal(true);
    expect(out.subarray(0x400).every((b) => b === 10)).to.equal(true);
  });

  it('remove_break releases a suspended request', async () => {
    const { io } = await session({ driver: 'memory', size: 1 << 20 });
    io.break('pwritev_rmw_after_head', 'A');
    io.aioWrite(10, 0x200, 0x200);
    await io.waitBreak('A');
    expect(io.dbg.removeBreak('A')).to.equal(0);
    await io.aioFlush();
    expect(io.dbg.isSuspended('A')).to.equal(false);
  });
});
