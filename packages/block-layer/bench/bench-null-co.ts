/**
 * vmkit-img bench on null-co (no data, synchronous driver): the cost of the BlockBackend AIO path
 * and the generic layer per request, and what each optional feature adds, each measured with and
 * without it in the same process, cases interleaved round by round:
 * - depth 32 throughput and depth 1 latency (µs per request: at depth 1 requests are serial);
 * - an idle throttle group: member of a group without limits, and of a group whose limit is never
 *   reached (every request then runs the bucket arithmetic);
 * - an idle drain-parking check: a BlockBackend that has been through a drained section, request
 *   queuing enabled (the check runs on every request, nothing parks);
 * - device-style accounting (block_acct_start/done per request).
 *
 * Prints one JSON line per case: median IOPS over the rounds, µs per request (wall) and CPU µs per
 * request (user + system: steadier than wall time on a shared machine), and for a feature case
 * its cost against the plain case of the same depth (`costNsPerReq`, from CPU time).
 *
 * Run: npm run bench -w @vmkit/block-layer (or node dist/bench/bench-null-co.js [count] [rounds]).
 */
import { drainedBegin, drainedEnd } from '../src/drain.js';
import { BucketType, throttleConfigInit } from '../src/throttle/index.js';
import { runBench, type BenchOptions } from '../src/bench/index.js';
import { openImage } from './open-image.js';

const count = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 5);

type Throttle = 'none' | 'group-no-limits' | 'group-limit-not-reached';

interface Case {
  readonly name: string;
  readonly depth: 1 | 32;
  readonly write?: boolean;
  readonly throttle?: Throttle;
  readonly account?: boolean;
  /** Run a drained section on the root node before the benchmark. */
  readonly drained?: boolean;
}

function cases(depth: 1 | 32): Case[] {
  const d = `depth ${depth}`;
  return [
    { name: `null-co read ${d}`, depth },
    { name: `null-co read ${d}, idle throttle group (no limits)`, depth, throttle: 'group-no-limits' },
    {
      name: `null-co read ${d}, idle throttle group (limit not reached)`,
      depth,
      throttle: 'group-limit-not-reached',
    },
    { name: `null-co read ${d}, after a drained section (parking check)`, depth, drained: true },
    { name: `null-co read ${d}, accounting`, depth, account: true },
    {
      name: `null-co read ${d}, throttle (limit not reached) + accounting`,
      depth,
      throttle: 'group-limit-not-reached',
      account: true,
    },
  ];
}

const CASES: Case[] = [...cases(32), { name: 'null-co write depth 32', depth: 32, write: true }, ...cases(1)];

interface Sample {
  iops: number;
  cpuNsPerReq: number;
}

async function one(c: Case, n: number): Promise<Sample> {
  const img = await openImage({ node: { driver: 'null-co', size: 1 << 30 }, readOnly: c.write !== true });
  try {
    const blk = img.blk;
    if (c.throttle !== undefined && c.throttle !== 'none') {
      blk.ioLimitsEnable('bench');
      if (c.throttle === 'group-limit-not-reached') {
        const cfg = throttleConfigInit();
        cfg.buckets[BucketType.opsTotal].avg = 1e12;
        blk.setIoLimits(cfg);
      }
    }
    if (c.drained === true) {
      const bs = blk.bs!;
      await drainedBegin(bs);
      drainedEnd(bs);
    }
    const o: Partial<BenchOptions> = {
      count: n,
      depth: c.depth,
      write: c.write === true,
      account: c.account === true,
    };
    const r = await runBench(blk, o);
    if (r.error !== 0) throw new Error(`${c.name}: request failed (${r.error})`);
    if (blk.throttle.group !== null) await blk.ioLimitsDisable();
    return { iops: r.iops, cpuNsPerReq: (r.cpuSeconds * 1e9) / n };
  } finally {
    await img.close();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const n = (c: Case): number => (c.depth === 1 ? Math.max(1000, Math.round(count / 5)) : count);
  // Warm the JIT once on every path, so that no case runs before the code is optimised.
  for (const c of CASES) await one(c, Math.min(50_000, n(c)));
  const samples = new Map<Case, Sample[]>(CASES.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so that drift of a shared machine spreads over all cases.
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[(i + r) % CASES.length];
      samples.get(c)!.push(await one(c, n(c)));
    }
  }
  const base = new Map<number, number>();
  for (const c of CASES) {
    const s = samples.get(c)!;
    const iops = median(s.map((x) => x.iops));
    const cpuNs = median(s.map((x) => x.cpuNsPerReq));
    const plain = c.throttle === undefined && c.account !== true && c.drained !== true && c.write !== true;
    if (plain) base.set(c.depth, cpuNs);
    const out: Record<string, unknown> = {
      bench: c.name,
      count: n(c),
      depth: c.depth,
      rounds,
      iops: Math.round(iops),
      usPerReq: Math.round((1e6 / iops) * 1000) / 1000,
      cpuUsPerReq: Math.round(cpuNs) / 1000,
    };
    if (!plain && c.write !== true) out.costNsPerReq = Math.round(cpuNs - base.get(c.depth)!);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-null-co: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
