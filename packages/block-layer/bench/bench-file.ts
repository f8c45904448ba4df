/**
 * vmkit-img bench on a host file (raw over file): 4 KiB reads and writes at depth 32 and 1,
 * buffered, then with O_DIRECT (cache=none) where the temp directory's file system allows it.
 * Prints one JSON line per configuration (cpuUsPerReq counts every thread of the process). The
 * libuv thread pool (UV_THREADPOOL_SIZE, default 4) runs the `threads` AIO mode: on a 2-core host
 * 2 threads did better than 4 (fewer context switches); UV_USE_IO_URING=1 makes libuv use io_uring
 * (with an SQPOLL kernel thread, which takes a core of its own).
 *
 * Run: node dist/bench/bench-file.js [count]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBench } from '../src/bench/index.js';
import { openImage, type CacheModeName } from './open-image.js';

const count = Number(process.argv[2] ?? 20000);

async function one(file: string, cache: CacheModeName, depth: number, write: boolean): Promise<void> {
  let img;
  try {
    img = await openImage({ node: file, cache, readOnly: !write });
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ bench: `file ${cache}`, skipped: (e as Error).message })}\n`);
    return;
  }
  try {
    const r = await runBench(img.blk, { count, depth, write });
    const name = `file ${write ? 'write' : 'read'} depth ${depth} cache=${cache}`;
    const uring = process.env.UV_USE_IO_URING === '1';
    const threadpool = process.env.UV_THREADPOOL_SIZE ?? 'default (4)';
    const cpuUsPerReq = Math.round((r.cpuSeconds / count) * 1e9) / 1000;
    process.stdout.write(
      `${JSON.stringify({ bench: name, count, depth, size: r.size, seconds: r.seconds, iops: Math.round(r.iops), cpuUsPerReq, uring, threadpool })}\n`,
    );
  } finally {
    await img.close();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-bench-'));
  const file = path.join(dir, 'bench.img');
  try {
    fs.writeFileSync(file, new Uint8Array(0));
    fs.truncateSync(file, 256 << 20);
    for (const cache of ['writeback', 'none'] as const) {
      for (const write of [true, false]) for (const depth of [32, 1]) await one(file, cache, depth, write);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-file: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
