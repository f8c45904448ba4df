/**
 * xen-block throughput on null-co: 4 KiB reads at depth 32 through a guest Blkfront (persistent
 * grants, BlkfrontStream) and the xen-block device, with and without an IOThread, against the
 * same reads issued directly on a BlockBackend (vmkit-img bench's engine), with and without
 * device-style accounting. Prints one JSON line per configuration, then the ratios.
 *
 * Run: npm run bench -w @vmkit/xen-block (or node dist/bench/bench-xen-block.js [count]).
 */
import { BLOCK_LAYER, Machine } from '@vmkit/core';
import { BlockBackend, blockLayerPlugin, runBench, type BlockLayer } from '@vmkit/block-layer';
import { IN_PROCESS_XEN, xenBusPlugin, type InProcessXen } from '@vmkit/xen-bus';
import { xenBlockPlugin } from '../src/index.js';
import { Blkfront, BlkfrontStream } from '../src/testing/index.js';

const count = Number(process.argv[2] ?? 300000);
const DEPTH = 32;
const SIZE = 4096;
const DISK = 1 << 30;

interface Line {
  bench: string;
  unit: 'IOPS';
  iops: number;
  count: number;
  depth: number;
  size: number;
  seconds: number;
  [k: string]: unknown;
}

async function newMachine(): Promise<Machine> {
  const m = await Machine.create({ plugins: [xenBusPlugin, blockLayerPlugin, xenBlockPlugin] });
  await m.blockdevAdd({ driver: 'null-co', nodeName: 'null0', size: DISK });
  return m;
}

async function direct(n: number, account: boolean, iothread: boolean): Promise<Line> {
  const m = await newMachine();
  try {
    const layer = m.container.get<BlockLayer>(BLOCK_LAYER);
    const blk = BlockBackend.withNode(layer.node('null0'));
    if (iothread) {
      m.objectAdd({ type: 'iothread', id: 'io0' });
      blk.setAioContext(m.iothread('io0'));
    }
    const r = await runBench(blk, { count: n, depth: DEPTH, bufsize: SIZE, account });
    if (r.error !== 0) throw new Error(`direct bench failed: ${r.error}`);
    await blk.unref();
    const name = `direct BlockBackend read${account ? ' + accounting' : ''}${iothread ? ', iothread' : ''}`;
    return {
      bench: name,
      unit: 'IOPS',
      iops: Math.round(r.iops),
      count: n,
      depth: DEPTH,
      size: SIZE,
      seconds: r.seconds,
    };
  } finally {
    await m.destroy();
  }
}

async function device(n: number, iothread: boolean, protocol: 'native' | 'x86_32-abi'): Promise<Line> {
  const m = await newMachine();
  try {
    const xen = m.container.get<InProcessXen>(IN_PROCESS_XEN);
    const guest = xen.createDomain({ domid: 1, pages: 1024 });
    await m.deviceAdd({ type: 'xen-bridge', id: 'xen', 'frontend-id': 1 });
    if (iothread) m.objectAdd({ type: 'iothread', id: 'io0' });
    await m.deviceAdd({
      type: 'xen-block',
      id: 'xvda',
      vdev: 'xvda',
      drive: 'null0',
      ...(iothread ? { iothread: 'io0' } : {}),
    });
    const front = new Blkfront(guest, { protocol });
    await front.connect();
    const stream = new BlkfrontStream(front, { count: n, depth: DEPTH, size: SIZE });
    const t0 = process.hrtime.bigint();
    const r = await stream.run();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.errors !== 0 || r.unexpected !== 0)
      throw new Error(`device bench: ${r.errors} errors, ${r.unexpected} unexpected`);
    await front.close();
    return {
      bench: `xen-block read via Blkfront${iothread ? ', iothread' : ''}${protocol === 'native' ? '' : `, ${protocol}`}`,
      unit: 'IOPS',
      iops: Math.round(n / seconds),
      count: n,
      depth: DEPTH,
      size: SIZE,
      seconds,
      notificationsToBackend: r.notificationsSent,
      interruptsToGuest: r.interrupts,
    };
  } finally {
    await m.destroy();
  }
}

function print(line: Line): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const warm = Math.min(50000, count);
  for (let i = 0; i < 2; i++) {
    await direct(warm, false, false);
    await device(warm, false, 'native');
    await device(warm, true, 'native');
  }
  const d = await direct(count, false, false);
  const da = await direct(count, true, false);
  const dio = await direct(count, false, true);
  const x = await device(count, false, 'native');
  const xio = await device(count, true, 'native');
  const x32 = await device(count, true, 'x86_32-abi');
  for (const l of [d, da, dio, x, xio, x32]) print(l);
  const ratio = (a: Line, b: Line): number => Math.round((a.iops / b.iops) * 1000) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'ratio device/direct',
      unit: 'ratio',
      goal: 0.7,
      withoutIothread: ratio(x, d),
      withIothread: ratio(xio, dio),
      withoutIothreadVsAccountedDirect: ratio(x, da),
    })}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-xen-block: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
