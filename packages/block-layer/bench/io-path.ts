/**
 * Micro-benchmark of the node I/O path: 4 KiB reads on null-co (and raw over null-co) through
 * bdrvPreadv. Prints one JSON line per case: {"bench":"io-path","case":...,"opsPerSec":...}.
 * Run: node packages/block-layer/dist/bench/io-path.js
 */
import { IOVector } from '@vmkit/core';
import {
  BlockGraph,
  bdrvPreadv,
  memoryDriver,
  nullCoDriver,
  rawDriver,
  type BlockDriverState,
} from '../src/index.js';

async function measure(name: string, bs: BlockDriverState, durationMs = 1000): Promise<void> {
  const qiov = IOVector.fromBuffer(new Uint8Array(4096));
  const blocks = bs.totalBytes / 4096;
  // Warm-up.
  for (let i = 0; i < 100_000; i++) {
    const r = bdrvPreadv(bs, (i % blocks) * 4096, 4096, qiov);
    if (typeof r !== 'number') await r;
  }
  let ops = 0;
  let sync = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(durationMs) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 10_000; i++) {
      const r = bdrvPreadv(bs, ((ops + i) % blocks) * 4096, 4096, qiov);
      if (typeof r === 'number') sync++;
      else await r;
    }
    ops += 10_000;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(
    JSON.stringify({
      bench: 'io-path',
      case: name,
      opsPerSec: Math.round(ops / secs),
      syncFraction: sync / ops,
    }),
  );
}

const graph = new BlockGraph({ drivers: [nullCoDriver, rawDriver, memoryDriver] });
const nullNode = await graph.openNode({ driver: 'null-co', 'node-name': 'null0', size: 1 << 30 });
await measure('null-co 4k read', nullNode);
const raw = await graph.openNode({
  driver: 'raw',
  'node-name': 'raw0',
  file: { driver: 'null-co', size: 1 << 30 },
});
await measure('raw over null-co 4k read', raw);
const mem = await graph.openNode({ driver: 'memory', 'node-name': 'mem0', size: 64 << 20 });
await measure('memory 4k read', mem);
