/**
 * vmkit-img bench against qemu-img bench, same arguments, same run, alternating tool order each
 * round (so drift of a shared machine hits both alike):
 * - null-co 4 KiB reads at depth 32 and at depth 1 (`--image-opts driver=null-co,size=1G`);
 * - a page-cached raw file, 4 KiB reads at depth 32, `-i threads` for both;
 * - the same with `-i io_uring`, vmkit running with UV_USE_IO_URING=1 (libuv's io_uring backend);
 * - vmkit-img only: both file rows with `file.nowait=off` (`--image-opts`), i.e. every read through
 *   the thread pool (or io_uring) as before the file driver tried page-cached reads inline with
 *   RWF_NOWAIT; their ratio and cpuRatio compare with qemu-img's figures of the matching row.
 *
 * The figure of each run is the tool's own "Run completed in S seconds" (count / S), so process
 * start-up is not counted. Prints one JSON line per run, then per bench and tool the medians:
 * {"bench","tool","iops","cpuUsPerReq","runs","ratio","cpuRatio"} where ratio = vmkit / qemu-img
 * IOPS and cpuRatio = qemu-img / vmkit CPU time per request (all threads, user + system, the
 * start-up cost measured with `-c 1` subtracted): on a shared machine IOPS drift with the load of
 * other processes, CPU time per request much less, so cpuRatio (> 1: vmkit cheaper) is the steadier
 * figure of the two.
 * Without qemu-img (or without a built vmkit-img) it prints a skip line and exits 0.
 *
 * Run: node packages/block-layer/dist/bench/compare-qemu.js [rounds=3] [scale=1]
 * Env: QEMU_IMG (default qemu-img), VMKIT_IMG (default ../block-tools' dist bin), BENCH_FILE_MB
 * (default 256), UV_THREADPOOL_SIZE is passed through to vmkit-img as it is.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const rounds = Number(process.argv[2] ?? 3);
const scale = Number(process.argv[3] ?? 1);
const qemuImg = process.env.QEMU_IMG ?? 'qemu-img';
const here = path.dirname(fileURLToPath(import.meta.url));
const vmkitImg =
  process.env.VMKIT_IMG ?? path.resolve(here, '../../../block-tools/dist/src/bin/vmkit-img.js');
const fileMb = Number(process.env.BENCH_FILE_MB ?? 256);

type Tool = 'qemu-img' | 'vmkit-img';

interface Bench {
  readonly name: string;
  /**
   * Arguments after `bench`, identical for both tools (image 'file': the file is appended;
   * 'file-opts': FILE in the arguments is replaced with it).
   */
  readonly args: readonly string[];
  readonly image: 'null-co' | 'file' | 'file-opts';
  /** Extra environment of vmkit-img. */
  readonly vmkitEnv?: Readonly<Record<string, string>>;
  /** Run vmkit-img only, comparing with qemu-img's medians of the bench of this name. */
  readonly vmkitOnlyVs?: string;
}

function line(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface RunResult {
  iops: number;
  /** CPU time of the tool's process (user + system, all threads), seconds. */
  cpuSeconds: number;
}

/** `times` output: the children's line is the last one. */
const TIMES_RE = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/;

/**
 * Runs one tool through `sh -c '...; times'` so that its CPU time is known too; returns the IOPS
 * from its own timing ("Run completed in S seconds"), or an error text.
 */
function runTool(tool: Tool, args: readonly string[], env: NodeJS.ProcessEnv): RunResult | string {
  const argv =
    tool === 'qemu-img' ? [qemuImg, 'bench', ...args] : [process.execPath, vmkitImg, 'bench', ...args];
  const r = spawnSync('/bin/sh', ['-c', '"$@"; s=$?; times; exit $s', 'sh', ...argv], {
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.error) return r.error.message;
  const out = `${r.stdout}${r.stderr}`;
  const m = /Run completed in ([0-9.]+) seconds/.exec(out);
  const t = TIMES_RE.exec(r.stdout);
  if (r.status !== 0 || m === null || t === null) return out.trim().split('\n').pop() ?? `exit ${r.status}`;
  const count = Number(args[args.indexOf('-c') + 1]);
  const cpuSeconds = Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]);
  return { iops: count / Number(m[1]), cpuSeconds };
}

/** The same run with `-c 1`: the CPU time of start-up and image opening, to subtract. */
function startupCpu(tool: Tool, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const a = [...args];
  a[a.indexOf('-c') + 1] = '1';
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = runTool(tool, a, env);
    if (typeof r !== 'string') xs.push(r.cpuSeconds);
  }
  return xs.length ? median(xs) : 0;
}

function available(): string | null {
  const q = spawnSync(qemuImg, ['--version'], { encoding: 'utf8' });
  if (q.error || q.status !== 0) return `${qemuImg} not found`;
  if (!fs.existsSync(vmkitImg)) return `${vmkitImg} not built (npx tsc -b packages/block-tools)`;
  return null;
}

/** A raw file of `mb` MiB with non-zero data, read once so that it sits in the page cache. */
function makeCachedFile(dir: string, mb: number): string {
  const file = path.join(dir, 'bench.raw');
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + 13) & 0xff;
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < mb; i++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  const rfd = fs.openSync(file, 'r');
  while (fs.readSync(rfd, chunk) > 0);
  fs.closeSync(rfd);
  return file;
}

/** `--image-opts` of a raw image over the file driver with the given `nowait`. */
function fileOpts(nowait: 'on' | 'off'): string {
  return `driver=raw,file.driver=file,file.filename=FILE,file.nowait=${nowait}`;
}

/** The bench's arguments with the image file in place. */
function argsWithFile(b: Bench, file: string): string[] {
  if (b.image === 'file') return [...b.args, file];
  if (b.image === 'file-opts') return b.args.map((a) => a.replace('FILE', file));
  return [...b.args];
}

interface Summary {
  iops: number;
  cpuUsPerReq: number;
}

function benches(): Bench[] {
  const n = (x: number): string => String(Math.max(1000, Math.round(x * scale)));
  const nullOpts = ['--image-opts', 'driver=null-co,size=1G'];
  return [
    {
      name: 'null-co read 4k depth 32',
      args: ['-c', n(2_000_000), '-d', '32', ...nullOpts],
      image: 'null-co',
    },
    { name: 'null-co read 4k depth 1', args: ['-c', n(300_000), '-d', '1', ...nullOpts], image: 'null-co' },
    {
      name: 'file read 4k depth 32 -i threads',
      args: ['-c', n(300_000), '-d', '32', '-f', 'raw', '-i', 'threads'],
      image: 'file',
    },
    {
      name: 'file read 4k depth 32 -i io_uring',
      args: ['-c', n(300_000), '-d', '32', '-f', 'raw', '-i', 'io_uring'],
      image: 'file',
      vmkitEnv: { UV_USE_IO_URING: '1' },
    },
    {
      name: 'file read 4k depth 32 -i threads, file.nowait=off',
      args: ['-c', n(300_000), '-d', '32', '-i', 'threads', '--image-opts', fileOpts('off')],
      image: 'file-opts',
      vmkitOnlyVs: 'file read 4k depth 32 -i threads',
    },
    {
      name: 'file read 4k depth 32 -i io_uring, file.nowait=off',
      args: ['-c', n(300_000), '-d', '32', '-i', 'io_uring', '--image-opts', fileOpts('off')],
      image: 'file-opts',
      vmkitEnv: { UV_USE_IO_URING: '1' },
      vmkitOnlyVs: 'file read 4k depth 32 -i io_uring',
    },
  ];
}

function main(): void {
  const why = available();
  if (why !== null) {
    line({ bench: 'compare-qemu', skipped: why });
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-cmp-'));
  try {
    const file = makeCachedFile(dir, fileMb);
    const qemuSummaries = new Map<string, Summary>();
    for (const b of benches()) {
      const args = argsWithFile(b, file);
      const tools: Tool[] = b.vmkitOnlyVs === undefined ? ['qemu-img', 'vmkit-img'] : ['vmkit-img'];
      const count = Number(args[args.indexOf('-c') + 1]);
      const envOf = (tool: Tool): NodeJS.ProcessEnv =>
        tool === 'vmkit-img' ? { ...process.env, ...b.vmkitEnv } : process.env;
      const runs: Record<Tool, RunResult[]> = { 'qemu-img': [], 'vmkit-img': [] };
      let failed: string | null = null;
      for (let round = 0; round < rounds && failed === null; round++) {
        const order = round % 2 === 0 ? tools : [...tools].reverse();
        for (const tool of order) {
          const r = runTool(tool, args, envOf(tool));
          if (typeof r === 'string') {
            failed = `${tool}: ${r}`;
            break;
          }
          runs[tool].push(r);
          line({ bench: b.name, tool, round, iops: Math.round(r.iops), cpuSeconds: r.cpuSeconds });
        }
      }
      if (failed !== null) {
        line({ bench: b.name, skipped: failed });
        continue;
      }
      const summary = (tool: Tool): Summary => {
        const base = startupCpu(tool, args, envOf(tool));
        const cpu = median(runs[tool].map((r) => r.cpuSeconds)) - base;
        return {
          iops: median(runs[tool].map((r) => r.iops)),
          cpuUsPerReq: Math.round((cpu / count) * 1e9) / 1000,
        };
      };
      const common = {
        args: ['bench', ...args],
        uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? 'default',
      };
      let q: Summary | undefined;
      if (b.vmkitOnlyVs === undefined) {
        q = summary('qemu-img');
        qemuSummaries.set(b.name, q);
        line({
          bench: b.name,
          tool: 'qemu-img',
          iops: Math.round(q.iops),
          cpuUsPerReq: q.cpuUsPerReq,
          runs: runs['qemu-img'].map((r) => Math.round(r.iops)),
          ...common,
        });
      } else q = qemuSummaries.get(b.vmkitOnlyVs);
      const v = summary('vmkit-img');
      const vs =
        q === undefined
          ? {}
          : {
              ratio: Math.round((v.iops / q.iops) * 100) / 100,
              cpuRatio: Math.round((q.cpuUsPerReq / v.cpuUsPerReq) * 100) / 100,
              ...(b.vmkitOnlyVs !== undefined ? { vs: `qemu-img, ${b.vmkitOnlyVs}` } : {}),
            };
      line({
        bench: b.name,
        tool: 'vmkit-img',
        iops: Math.round(v.iops),
        cpuUsPerReq: v.cpuUsPerReq,
        runs: runs['vmkit-img'].map((r) => Math.round(r.iops)),
        ...vs,
        env: b.vmkitEnv ?? {},
        ...common,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
