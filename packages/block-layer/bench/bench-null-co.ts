/**
 * vmkit-img bench on null-co (no data, synchronous driver): the cost of the BlockBackend AIO
 * path and the generic layer per request. Prints one JSON line per configuration:
 * depth 32 vs 1, and with an idle throttle group / device-style accounting on and off.
 *
 * Run: npm run bench -w @vmkit/block-layer (or node dist/bench/bench-null-co.js [count]).
 */
import { BucketType, throttleConfigInit } from '../src/throttle/index.js';
import { runBench, type BenchOptions } from '../src/bench/index.js';
import { openImage } from './open-image.js';

const count = Number(process.argv[2] ?? 200000);

interface Case {
  name: string;
  depth: number;
  throttle: boolean;
  account: boolean;
  write: boolean;
}

const CASES: Case[] = [
  { name: 'null-co read depth 32', depth: 32, throttle: false, account: false, write: false },
  { name: 'null-co read depth 1', depth: 1, throttle: false, account: false, write: false },
  { name: 'null-co write depth 32', depth: 32, throttle: false, account: false, write: true },
  {
    name: 'null-co read depth 32, idle throttle group',
    depth: 32,
    throttle: true,
    account: false,
    write: false,
  },
  { name: 'null-co read depth 32, accounting', depth: 32, throttle: false, account: true, write: false },
  {
    name: 'null-co read depth 32, throttle + accounting',
    depth: 32,
    throttle: true,
    account: true,
    write: false,
  },
];

async function one(c: Case, n: number): Promise<Record<string, unknown>> {
  const img = await openImage({ node: { driver: 'null-co', size: 1 << 30 }, readOnly: !c.write });
  try {
    if (c.throttle) {
      // A group whose limit is never reached: every request takes the throttling path.
      const cfg = throttleConfigInit();
      cfg.buckets[BucketType.opsTotal].avg = 1e12;
      img.blk.ioLimitsEnable('bench');
      img.blk.setIoLimits(cfg);
    }
    const o: Partial<BenchOptions> = { count: n, depth: c.depth, write: c.write, account: c.account };
    const r = await runBench(img.blk, o);
    if (c.throttle) await img.blk.ioLimitsDisable();
    return {
      bench: c.name,
      count: r.count,
      depth: r.depth,
      size: r.size,
      seconds: r.seconds,
      iops: Math.round(r.iops),
    };
  } finally {
    await img.close();
  }
}

async function main(): Promise<void> {
  // Warm the JIT once on every path.
  for (const c of CASES) await one(c, Math.min(20000, count));
  for (const c of CASES) process.stdout.write(`${JSON.stringify(await one(c, count))}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-null-co: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
