/**
 * The device half of bench-xen-block alone (4 KiB reads at depth 32 on null-co through
 * BlkfrontStream and xen-block, main context), for profiling without the direct runs mixed in:
 *   node --cpu-prof dist/bench/profile-xen-block.js [count] [rounds]
 * Prints µs of CPU per request for each round.
 */
import { Machine } from '@vmkit/core';
import { blockLayerPlugin } from '@vmkit/block-layer';
import { IN_PROCESS_XEN, xenBusPlugin, type InProcessXen } from '@vmkit/xen-bus';
import { xenBlockPlugin } from '../src/index.js';
import { Blkfront, BlkfrontStream } from '../src/testing/index.js';

const count = Number(process.argv[2] ?? 1000000);
const rounds = Number(process.argv[3] ?? 3);

async function round(n: number): Promise<number> {
  const m = await Machine.create({ plugins: [xenBusPlugin, blockLayerPlugin, xenBlockPlugin] });
  try {
    await m.blockdevAdd({ driver: 'null-co', nodeName: 'null0', size: 1 << 30 });
    const guest = m.container.get<InProcessXen>(IN_PROCESS_XEN).createDomain({ domid: 1, pages: 1024 });
    await m.deviceAdd({ type: 'xen-bridge', id: 'xen', 'frontend-id': 1 });
    await m.deviceAdd({ type: 'xen-block', id: 'xvda', vdev: 'xvda', drive: 'null0' });
    const front = new Blkfront(guest, { protocol: 'native' });
    await front.connect();
    const stream = new BlkfrontStream(front, { count: n, depth: 32, size: 4096 });
    const cpu0 = process.cpuUsage();
    const r = await stream.run();
    const d = process.cpuUsage(cpu0);
    if (r.errors !== 0 || r.unexpected !== 0)
      throw new Error(`${r.errors} errors, ${r.unexpected} unexpected`);
    await front.close();
    return (d.user + d.system) / n;
  } finally {
    await m.destroy();
  }
}

async function main(): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const us = await round(count);
    process.stdout.write(
      `${JSON.stringify({ bench: 'xen-block read via Blkfront', usPerRequestCpu: Math.round(us * 1000) / 1000, count })}\n`,
    );
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`profile-xen-block: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
