/**
 * Heap check: 10 M null-co 4 KiB reads at depth 32 through the BlockBackend AIO path (the bench
 * engine, as a device would submit them), on one BlockBackend. After a warm-up (pools filled, code
 * optimised) the heap is measured after a forced full GC, then again after every 2 M requests and
 * at the end: a leak of even one small object per request would show as hundreds of MB.
 *
 * Prints JSON lines: one per checkpoint, then {"bench":"heap-flat", heapUsedBefore, heapUsedAfter,
 * deltaBytes, ...}. Cases: plain, and with device-style accounting plus an idle throttle group
 * (limit never reached), so that those paths are covered too.
 *
 * Needs --expose-gc; it re-runs itself with it when started without.
 * Run: node packages/block-layer/dist/bench/heap-flat.js [requests=10000000]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BucketType, throttleConfigInit } from '../src/throttle/index.js';
import { runBench } from '../src/bench/index.js';
import { openImage } from './open-image.js';

const total = Number(process.argv[2] ?? 10_000_000);
const CHUNK = 2_000_000;

function line(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function heapAfterGc(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function check(gc: () => void, name: string, extras: boolean): Promise<void> {
  const img = await openImage({ node: { driver: 'null-co', size: 1 << 30 }, readOnly: true });
  try {
    const blk = img.blk;
    if (extras) {
      const cfg = throttleConfigInit();
      cfg.buckets[BucketType.opsTotal].avg = 1e12;
      blk.ioLimitsEnable('heap');
      blk.setIoLimits(cfg);
    }
    const o = { depth: 32, account: extras };
    await runBench(blk, { ...o, count: 200_000 });
    const before = heapAfterGc(gc);
    const rssBefore = process.memoryUsage().rss;
    let done = 0;
    let seconds = 0;
    while (done < total) {
      const n = Math.min(CHUNK, total - done);
      const r = await runBench(blk, { ...o, count: n });
      if (r.error !== 0) throw new Error(`request failed: ${r.error}`);
      done += n;
      seconds += r.seconds;
      line({ bench: 'heap-flat', case: name, requests: done, heapUsed: heapAfterGc(gc) });
    }
    const after = heapAfterGc(gc);
    line({
      bench: 'heap-flat',
      case: name,
      requests: total,
      heapUsedBefore: before,
      heapUsedAfter: after,
      deltaBytes: after - before,
      bytesPerRequest: (after - before) / total,
      rssBefore,
      rssAfter: process.memoryUsage().rss,
      aioPoolFree: blk.aioPool.size,
      iops: Math.round(total / seconds),
    });
    if (extras) await blk.ioLimitsDisable();
  } finally {
    await img.close();
  }
}

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      {
        stdio: 'inherit',
      },
    );
    process.exitCode = r.status ?? 1;
    return;
  }
  await check(gc, 'aio read depth 32', false);
  await check(gc, 'aio read depth 32, accounting + idle throttle group', true);
}

main().catch((e: unknown) => {
  process.stderr.write(`heap-flat: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
