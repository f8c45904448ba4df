#!/usr/bin/env node
// Benchmark (not a test): the test guest runs the same fio jobs against each backend, rounds
// alternating between backends, and prints JSON lines {job, backend, round, iops, mibps}, then the
// mean per job and backend and its ratio to the baseline. Under TCG the guest CPU bounds small-block
// IOPS for every backend, so the ratio is the figure that matters.
//
//   node bench-guest.mjs [--backends=vmkit,vmkit-plain,qsd[,qemu-virtio][,NAME...]] [--NAME='CMD {image} {socket}']
//                        [--baseline=qsd] [--rounds=2] [--runtime=5] [--size-mib=256] [--jobs=randread-4k,...]
//                        [--firmware=seabios|qboot] [--cache DIR]
//
// qemu-virtio is QEMU's in-process virtio-blk (cache=writeback), qsd is qemu-storage-daemon's
// vhost-user-blk export (cache.direct=off); any other NAME is a vhost-user daemon started from the
// --NAME command template, e.g. --backends=vmkit,qsd --vmkit='vmkit-storage-daemon ... {socket}'.
// vmkit and vmkit-plain have built-in templates (VMKIT_TEMPLATES: this checkout's daemon, the
// image through the page cache, with and without interrupt coalescing); the default backends
// are vmkit,vmkit-plain,qsd, the comparison (`npm run bench:guest -w @vmkit/vhost-user`).
import console from 'node:console';
import process from 'node:process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { URL, fileURLToPath } from 'node:url';
import { startCommandDaemon, startQemuStorageDaemon } from './daemons.mjs';
import { BLOCK, createCheckImage, DEFAULT_LAYOUT } from './layout.mjs';
import { prepareGuest } from './prepare.mjs';
import { parseArgs, parseResultLine, runGuest } from './run-guest.mjs';

/** @typedef {{ rw: string, bs: string, depth: number }} BenchJob */

/** This checkout's vmkit-storage-daemon (built by `npm run build`). */
const DAEMON_BIN = fileURLToPath(
  new URL('../../storage-daemon/dist/src/bin/vmkit-storage-daemon.js', import.meta.url),
);
const VMKIT_PLAIN =
  `${process.execPath} ${DAEMON_BIN} ` +
  '--blockdev driver=file,node-name=file0,filename={image},cache.direct=off ' +
  '--blockdev driver=raw,node-name=disk0,file=file0 ' +
  '--export type=vhost-user-blk,id=vu0,node-name=disk0,addr.type=unix,addr.path={socket},writable=on';

/**
 * Built-in daemon templates: `vmkit` with interrupt coalescing (the guest's vCPU is the
 * bottleneck under TCG, and an interrupt costs it more than a request), `vmkit-plain` with
 * QEMU's one interrupt per completion batch.
 */
export const VMKIT_TEMPLATES = Object.freeze({
  vmkit: `${VMKIT_PLAIN},coalesce-frames=16,coalesce-usecs=1000`,
  'vmkit-plain': VMKIT_PLAIN,
});

/** The jobs: rw, block size, queue depth. */
export const BENCH_JOBS = Object.freeze([
  { rw: 'randread', bs: '4k', depth: 16 },
  { rw: 'read', bs: '1m', depth: 16 },
  { rw: 'randwrite', bs: '4k', depth: 16 },
]);

/**
 * @typedef {{ job: string, backend: string, round: number, iops: number, mibps: number,
 *   latUs: number, irqsPerIo: number, daemonCpuUsPerIo: number, daemonMainCpuUsPerIo: number }}
 *   BenchSample
 */

/**
 * @typedef {{ backend: string, round: number, daemonCpuSeconds?: number, cpuUsPerIo?: number,
 *   interruptsHeld?: number, heldExpired?: number, holdUs?: number }} DaemonCpu
 */

/**
 * CPU µs per I/O, to 0.1 µs: `seconds` of CPU over a job of `runtime` s plus fio's ramp-up second
 * at `iops` (NaN when the CPU time is unknown).
 * @param {number | undefined} seconds
 * @param {number} iops
 * @param {number} runtime
 * @returns {number}
 */
function usPerIo(seconds, iops, runtime) {
  return Math.round(((seconds ?? Number.NaN) / (iops * (runtime + 1))) * 1e7) / 10;
}

/**
 * One boot running every job against one backend.
 * @param {{ guest: { kernel: string, initrd: string }, backend: string, round: number,
 *   image: string, socket: string, template?: string, runtime: number,
 *   firmware: 'seabios' | 'qboot', onDaemonCpu?: (c: DaemonCpu) => void,
 *   jobs?: readonly BenchJob[] }} o
 * @returns {Promise<BenchSample[]>}
 */
async function benchOnce(o) {
  const daemon =
    o.backend === 'qemu-virtio'
      ? null
      : o.backend === 'qsd'
        ? await startQemuStorageDaemon({ image: o.image, socket: o.socket })
        : await startCommandDaemon({
            name: o.backend,
            template: o.template ?? '',
            image: o.image,
            socket: o.socket,
          });
  try {
    const cpu0 = daemon?.cpuSeconds() ?? Number.NaN;
    // The daemon's CPU time over each job (the guest marks the start and reports the end).
    // Also the main thread's alone: for a Node daemon, the JavaScript's share of it.
    /** @type {Map<string, number>} */
    const jobCpu = new Map();
    /** @type {Map<string, number>} */
    const jobMainCpu = new Map();
    let jobStartCpu = Number.NaN;
    let jobStartMainCpu = Number.NaN;
    /** @param {string} line */
    const onLine = (line) => {
      if (!daemon) return;
      const r = parseResultLine(line);
      if (r?.step === 'fio-start') {
        jobStartCpu = daemon.cpuSeconds();
        jobStartMainCpu = daemon.mainThreadCpuSeconds();
      } else if (r?.step === 'fio' && r.fields.job) {
        jobCpu.set(r.fields.job, daemon.cpuSeconds() - jobStartCpu);
        jobMainCpu.set(r.fields.job, daemon.mainThreadCpuSeconds() - jobStartMainCpu);
      }
    };
    const jobs = o.jobs ?? BENCH_JOBS;
    const fio = jobs.map((j) => `${j.rw}:${j.bs}:${j.depth}:${o.runtime}`).join(',');
    const run = await runGuest({
      kernel: o.guest.kernel,
      initrd: o.guest.initrd,
      firmware: o.firmware,
      backend: daemon ? { kind: 'vhost-user', socket: o.socket } : { kind: 'qemu-virtio', image: o.image },
      params: { test: 'bench', fio },
      onLine,
      timeoutMs: 60_000 + jobs.length * (o.runtime + 1) * 3_000,
    });
    const results = run.steps.filter((s) => s.step === 'fio');
    if (!run.done || results.length !== jobs.length || results.some((s) => !s.ok)) {
      throw new Error(`bench on ${o.backend} failed:\n${run.console}${daemon ? daemon.output() : ''}`);
    }
    const daemonCpu = (daemon?.cpuSeconds() ?? Number.NaN) - cpu0;
    const samples = results.map((s) => {
      const n = (/** @type {string} */ k) => Number(s.fields[k] ?? 0);
      return {
        job: s.fields.job,
        backend: o.backend,
        round: o.round,
        iops: n('read_iops') + n('write_iops'),
        // Mean completion latency seen by fio (submission to completion), µs.
        latUs: Math.round(n('read_iops') >= n('write_iops') ? n('read_lat_us') : n('write_lat_us')),
        mibps: Math.round(((n('read_kibps') + n('write_kibps')) / 1024) * 10) / 10,
        // Guest interrupts per I/O (the job's ramp-up second included in both counts).
        irqsPerIo:
          Math.round((n('irqs') / ((n('read_iops') + n('write_iops')) * (o.runtime + 1))) * 1000) / 1000,
        // The daemon's CPU µs per I/O over the job (ramp-up second included in both), all
        // threads and the main thread alone.
        daemonCpuUsPerIo: usPerIo(jobCpu.get(s.fields.job), n('read_iops') + n('write_iops'), o.runtime),
        daemonMainCpuUsPerIo: usPerIo(
          jobMainCpu.get(s.fields.job),
          n('read_iops') + n('write_iops'),
          o.runtime,
        ),
      };
    });
    if (Number.isFinite(daemonCpu)) {
      // The daemon's CPU over the whole boot (its own start-up excluded), per I/O of the jobs.
      const ios = samples.reduce((sum, s) => sum + s.iops * o.runtime, 0);
      o.onDaemonCpu?.({
        backend: o.backend,
        round: o.round,
        daemonCpuSeconds: daemonCpu,
        cpuUsPerIo: Math.round((daemonCpu / ios) * 1e7) / 10,
      });
    }
    return samples;
  } finally {
    await daemon?.stop();
    const held = daemon ? parseHeldReport(daemon.output()) : null;
    if (held) o.onDaemonCpu?.({ backend: o.backend, round: o.round, ...held });
  }
}

/**
 * @param {{ backends: string[], templates?: Record<string, string>, rounds?: number, runtime?: number,
 *   sizeMiB?: number, firmware?: 'seabios' | 'qboot', cacheDir?: string,
 *   onSample?: (s: BenchSample) => void, onDaemonCpu?: (c: DaemonCpu) => void,
 *   jobs?: readonly BenchJob[] }} o
 * @returns {Promise<BenchSample[]>}
 */
export async function runBench(o) {
  const guest = prepareGuest({ cacheDir: o.cacheDir, log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'vmkit-bench-'));
  const image = join(dir, 'disk.img');
  const socket = join(dir, 'vhost-user.sock');
  const blocks = ((o.sizeMiB ?? 256) << 20) / BLOCK;
  createCheckImage(image, { ...DEFAULT_LAYOUT, blocks });
  /** @type {BenchSample[]} */
  const samples = [];
  try {
    for (let round = 1; round <= (o.rounds ?? 2); round++) {
      for (const backend of o.backends) {
        const got = await benchOnce({
          guest,
          backend,
          round,
          image,
          socket,
          template: o.templates?.[backend],
          runtime: o.runtime ?? 5,
          firmware: o.firmware ?? 'seabios',
          onDaemonCpu: o.onDaemonCpu,
          jobs: o.jobs,
        });
        for (const s of got) o.onSample?.(s);
        samples.push(...got);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return samples;
}

/**
 * Mean per job and backend, with the ratio to `baseline`'s mean.
 * @param {BenchSample[]} samples
 * @param {string} baseline
 */
export function summarize(samples, baseline) {
  /** @type {Map<string, { job: string, backend: string, iops: number, mibps: number, latUs: number, n: number }>} */
  const means = new Map();
  for (const s of samples) {
    const k = `${s.job}\0${s.backend}`;
    const m = means.get(k) ?? { job: s.job, backend: s.backend, iops: 0, mibps: 0, latUs: 0, n: 0 };
    m.iops += s.iops;
    m.mibps += s.mibps;
    m.latUs += s.latUs;
    m.n++;
    means.set(k, m);
  }
  return [...means.values()].map((m) => {
    const base = means.get(`${m.job}\0${baseline}`);
    const iops = Math.round(m.iops / m.n);
    const mibps = Math.round((m.mibps / m.n) * 10) / 10;
    const ratio =
      base && base.iops > 0 ? Math.round((m.iops / m.n / (base.iops / base.n)) * 1000) / 1000 : null;
    const latUs = Math.round(m.latUs / m.n);
    return { summary: 'mean', job: m.job, backend: m.backend, iops, mibps, latUs, baseline, ratio };
  });
}

/**
 * The interrupts vmkit-storage-daemon held, from the line it prints when a front-end leaves with
 * coalesce-frames on (the last one in `output`), or null.
 * @param {string} output
 * @returns {{ interruptsHeld: number, heldExpired: number, holdUs: number } | null}
 */
export function parseHeldReport(output) {
  const all = [...output.matchAll(/(\d+) interrupts held \((\d+) for the full (\d+) µs\)/g)];
  const m = all.at(-1);
  return m ? { interruptsHeld: Number(m[1]), heldExpired: Number(m[2]), holdUs: Number(m[3]) } : null;
}

/**
 * `rw-bs` (one of BENCH_JOBS) or `rw-bs-qdN` (that job at depth N, 1..256).
 * @param {string} name
 * @returns {BenchJob}
 */
export function parseJobName(name) {
  const m = /^(\w+)-(\w+?)(?:-qd(\d+))?$/.exec(name);
  const base = m && BENCH_JOBS.find((j) => j.rw === m[1] && j.bs === m[2]);
  const depth = m?.[3] === undefined ? base?.depth : Number(m[3]);
  if (!base || depth === undefined || depth < 1 || depth > 256) {
    const known = BENCH_JOBS.map((j) => `${j.rw}-${j.bs}`).join(', ');
    throw new Error(`unknown job '${name}' (jobs: ${known}, each optionally -qdN with N in 1..256)`);
  }
  return { ...base, depth };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const backends = (opts.backends ?? 'vmkit,vmkit-plain,qsd').split(',').filter(Boolean);
  /** @type {Record<string, string>} */
  const templates = {};
  /** @type {Record<string, string>} */
  const builtin = VMKIT_TEMPLATES;
  for (const b of backends) {
    if (b === 'qemu-virtio' || b === 'qsd') continue;
    const t = opts[b] ?? builtin[b];
    if (!t) throw new Error(`backend ${b} needs --${b}='CMD {image} {socket}'`);
    templates[b] = t;
  }
  // --jobs=randwrite-4k,... runs a subset (names as in the output: rw-bs), and rw-bs-qdN the
  // same job at queue depth N.
  const jobs = opts.jobs?.split(',').filter(Boolean).map(parseJobName);
  const baseline = opts.baseline ?? (backends.includes('qsd') ? 'qsd' : backends[0]);
  const samples = await runBench({
    backends,
    templates,
    rounds: Number(opts.rounds ?? 2),
    runtime: Number(opts.runtime ?? 5),
    sizeMiB: Number(opts['size-mib'] ?? 256),
    firmware: opts.firmware === 'qboot' ? 'qboot' : 'seabios',
    cacheDir: opts.cache,
    onSample: (s) => console.log(JSON.stringify(s)),
    onDaemonCpu: (c) => console.log(JSON.stringify(c)),
    jobs,
  });
  for (const line of summarize(samples, baseline)) console.log(JSON.stringify(line));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  });
}
