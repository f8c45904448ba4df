/**
 * xen-block throughput on null-co: 4 KiB reads at depth 32 through a guest Blkfront (persistent
 * grants, BlkfrontStream) and the xen-block device, with and without an IOThread, against the
 * same reads issued directly on a BlockBackend (vmkit-img bench's engine), with and without
 * device-style accounting. Prints one JSON line per configuration, then the ratios.
 *
 * Run: npm run bench -w @vmkit/xen-block (or node dist/bench/bench-xen-block.js [count] [rounds]).
 * Each configuration runs `rounds` times, interleaved; the median run is printed.
 */
// First: it wraps setImmediate before @vmkit/core captures it.
import { macrotaskTurns } from './turn-counter.js';
import { BLOCK_LAYER, Machine } from '@vmkit/core';
import { BlockBackend, blockLayerPlugin, runBench, type BlockLayer } from '@vmkit/block-layer';
import { IN_PROCESS_XEN, xenBusPlugin, type InProcessXen } from '@vmkit/xen-bus';
import { xenBlockPlugin } from '../src/index.js';
import { Blkfront, BlkfrontStream } from '../src/testing/index.js';

const count = Number(process.argv[2] ?? 300000);
const ROUNDS = Number(process.argv[3] ?? 3);
const DEPTH = 32;
const SIZE = 4096;
const DISK = 1 << 30;

interface Line {
  bench: string;
  unit: 'IOPS';
  iops: number;
  /** Requests per second of this process's CPU time (steadier than wall time on a busy host). */
  iopsCpu: number;
  count: number;
  depth: number;
  size: number;
  seconds: number;
  [k: string]: unknown;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
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
    const turns0 = macrotaskTurns();
    const cpu0 = process.cpuUsage();
    const r = await runBench(blk, { count: n, depth: DEPTH, bufsize: SIZE, account });
    const cpu = cpuSeconds(cpu0);
    const turns = macrotaskTurns() - turns0;
    if (r.error !== 0) throw new Error(`direct bench failed: ${r.error}`);
    await blk.unref();
    const name = `direct BlockBackend read${account ? ' + accounting' : ''}${iothread ? ', iothread' : ''}`;
    return {
      bench: name,
      unit: 'IOPS',
      iops: Math.round(r.iops),
      iopsCpu: Math.round(n / cpu),
      count: n,
      depth: DEPTH,
      size: SIZE,
      seconds: r.seconds,
      turnsPerRoundTrip: perRoundTrip(turns, n),
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
    const turns0 = macrotaskTurns();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const r = await stream.run();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(cpu0);
    const turns = macrotaskTurns() - turns0;
    if (r.errors !== 0 || r.unexpected !== 0)
      throw new Error(`device bench: ${r.errors} errors, ${r.unexpected} unexpected`);
    await front.close();
    return {
      bench: `xen-block read via Blkfront${iothread ? ', iothread' : ''}${protocol === 'native' ? '' : `, ${protocol}`}`,
      unit: 'IOPS',
      iops: Math.round(n / seconds),
      iopsCpu: Math.round(n / cpu),
      count: n,
      depth: DEPTH,
      size: SIZE,
      seconds,
      turnsPerRoundTrip: perRoundTrip(turns, n),
      notificationsToBackend: r.notificationsSent,
      interruptsToGuest: r.interrupts,
    };
  } finally {
    await m.destroy();
  }
}

/** Macrotask turns (setImmediate callbacks, all contexts) per DEPTH requests completed. */
function perRoundTrip(turns: number, n: number): number {
  return Math.round((turns / (n / DEPTH)) * 100) / 100;
}

function print(line: Line): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** The run with the median IOPS per CPU second. */
function median(lines: Line[]): Line {
  const sorted = [...lines].sort((a, b) => a.iopsCpu - b.iopsCpu);
  return { ...sorted[Math.floor(sorted.length / 2)], runsCpu: lines.map((l) => l.iopsCpu) };
}

async function main(): Promise<void> {
  const warm = Math.min(50000, count);
  await direct(warm, false, false);
  await device(warm, false, 'native');
  await device(warm, true, 'native');
  // Interleaved rounds, so that a noisy neighbour hurts every configuration alike; medians.
  const runs: Record<string, Line[]> = { d: [], da: [], dio: [], x: [], xio: [], x32: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.d.push(await direct(count, false, false));
    runs.x.push(await device(count, false, 'native'));
    runs.da.push(await direct(count, true, false));
    runs.dio.push(await direct(count, false, true));
    runs.xio.push(await device(count, true, 'native'));
    runs.x32.push(await device(count, true, 'x86_32-abi'));
  }
  const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) as Record<string, Line>;
  for (const k of ['d', 'da', 'dio', 'x', 'xio', 'x32']) print(m[k]);
  const ratio = (a: Line, b: Line, k: 'iops' | 'iopsCpu'): number => Math.round((a[k] / b[k]) * 1000) / 1000;
  for (const k of ['iopsCpu', 'iops'] as const) {
    process.stdout.write(
      `${JSON.stringify({
        bench: `ratio device/direct (${k === 'iops' ? 'wall time' : 'CPU time'})`,
        unit: 'ratio',
        goal: 0.7,
        withoutIothread: ratio(m.x, m.d, k),
        withIothread: ratio(m.xio, m.dio, k),
        withoutIothreadVsAccountedDirect: ratio(m.x, m.da, k),
      })}\n`,
    );
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-xen-block: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
